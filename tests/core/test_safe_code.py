"""The project's code never turns a safety off: no file it opens can run code.

The check reads every Python file of ``alexnet_tf/``, ``app/`` and ``main.py`` as tokens
(comments and strings are skipped, so a docstring may explain what is forbidden) and fails
naming ``file:line`` for: Keras safe mode turned off, ``allow_pickle`` on, unpickling outside
the restricted unpickler of ``alexnet_tf/weights/npy.py``, ``eval``/``exec``, ``yaml.load``,
``marshal``, ``shell=True`` and ``os.system``/``os.popen``.
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("alexnet_tf", "app", "main.py")
# The one place that may subclass pickle.Unpickler: the reader that resolves only stand-ins.
RESTRICTED_UNPICKLER = "alexnet_tf/weights/npy.py"

# (pattern over the code tokens joined by single spaces, reason); patterns allow any spacing.
RULES = [
    (r"\bsafe_mode\s*=\s*(?!\s|True\b)", "Keras safe mode set to something other than True"),
    (r"\benable_unsafe_deserialization\b", "Keras safe mode turned off globally"),
    (r"\ballow_pickle\s*=\s*(?!\s|False\b)", "allow_pickle on: numpy would run the file's pickle"),
    (r"\b(c?[Pp]ickle|_pickle)\s*\.\s*loads?\s*\(", "pickle.load(s): runs the file's code"),
    (r"\bfrom\s+(c?[Pp]ickle|_pickle)\s+import\b", "names imported from pickle"),
    (r"\bimport\s+(dill|cloudpickle|joblib|shelve)\b", "an unpickling library"),
    # the builtins, not methods such as Qt's dialog.exec() (tokens are joined by spaces)
    (r"(?<!\. )(?<![\w.])(eval|exec)\s*\(", "eval/exec of text"),
    (r"\byaml\s*\.\s*(load|load_all|full_load|full_load_all|unsafe_load|unsafe_load_all)\s*\(",
     "yaml.load: builds arbitrary objects (use yaml.safe_load)"),
    (r"\bmarshal\b", "marshal: loads code objects"),
    (r"\bshell\s*=\s*(?!\s|False\b)", "shell=True: a file name could become a command"),
    (r"\bos\s*\.\s*(system|popen)\s*\(", "os.system/os.popen: runs a shell"),
]  # fmt: skip
UNPICKLER_RULE = (r"\bUnpickler\b", "a pickle Unpickler outside the restricted one")
_SKIPPED_TOKENS = {"COMMENT", "STRING", "FSTRING_START", "FSTRING_MIDDLE", "FSTRING_END"}


def find_unsafe_code(source: str, name: str) -> list[str]:
    """``"name:line: reason"`` for every forbidden construct in the Python ``source``."""
    text, lines = [], []  # the code tokens joined by spaces; the line of each character
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if tokenize.tok_name[token.type] in _SKIPPED_TOKENS or not token.string.strip():
            continue
        text.append(token.string + " ")
        lines.extend([token.start[0]] * (len(token.string) + 1))
    code = "".join(text)
    rules = RULES if name == RESTRICTED_UNPICKLER else [*RULES, UNPICKLER_RULE]
    findings = [
        f"{name}:{lines[match.start()]}: {reason} ({match.group(0).strip()}...)"
        for pattern, reason in rules
        for match in re.finditer(pattern, code)
    ]
    return sorted(findings, key=lambda finding: int(finding.split(":")[1]))


def project_files() -> list[Path]:
    files = []
    for entry in SOURCES:
        path = ROOT / entry
        files.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return files


def test_project_code_never_turns_a_safety_off():
    files = project_files()
    assert len(files) > 40 and ROOT / RESTRICTED_UNPICKLER in files
    findings = [
        finding
        for path in files
        for finding in find_unsafe_code(path.read_text("utf-8"), path.relative_to(ROOT).as_posix())
    ]
    assert findings == [], "unsafe code:\n" + "\n".join(findings)


@pytest.mark.parametrize(
    ("snippet", "reason"),
    [
        ("model = keras.saving.load_model(path, safe_mode=False)", "safe mode set"),
        ("keras.saving.load_model(\n    path,\n    safe_mode = flag,\n)", "safe mode set"),
        ("keras.config.enable_unsafe_deserialization()", "turned off globally"),
        ("data = np.load(path, allow_pickle=True)", "allow_pickle on"),
        ("value = pickle.loads(blob)", "pickle.load(s)"),
        ("with open(p, 'rb') as f:\n    value = pickle.load(f)", "pickle.load(s)"),
        ("from pickle import load", "imported from pickle"),
        ("import joblib", "an unpickling library"),
        ("class Loose(pickle.Unpickler):\n    pass", "Unpickler outside"),
        ("result = eval(text)", "eval/exec"),
        ("exec (code, {})", "eval/exec"),
        ("config = yaml.load(stream, Loader=yaml.Loader)", "yaml.load"),
        ("import marshal", "marshal"),
        ("subprocess.run(command, shell=True)", "shell=True"),
        ("os.system('ls ' + folder)", "os.system"),
    ],
)
def test_each_forbidden_construct_is_found_with_its_line(snippet, reason):
    source = '"""A module."""\n\nimport os\n' + snippet + "\n"
    findings = find_unsafe_code(source, "alexnet_tf/example.py")
    assert len(findings) == 1, findings
    line = 4 if "safe_mode = flag" not in snippet else 6
    if "pickle.load(f)" in snippet:
        line = 5
    assert findings[0].startswith(f"alexnet_tf/example.py:{line}: ")
    assert reason in findings[0]


def test_mentions_and_safe_lookalikes_are_not_findings():
    source = '''"""Loading with ``np.load(allow_pickle=True)`` or safe_mode=False would run code."""
# never call eval( or exec( on a file's text; never shell=True
import yaml

model = keras.saving.load_model(path, compile=False, safe_mode=True)
arrays = np.load(path, allow_pickle=False)
config = yaml.safe_load(stream)
dialog.exec()
app.exec()
model.compile(optimizer="sgd")
subprocess.run(["xdg-open", folder], shell=False)
message = f"refused: {path} asks for eval(...) and marshal"
'''
    assert find_unsafe_code(source, "app/example.py") == []


def test_only_the_restricted_reader_may_subclass_unpickler():
    source = "import pickle\n\nclass _SafeUnpickler(pickle.Unpickler):\n    pass\n"
    assert find_unsafe_code(source, RESTRICTED_UNPICKLER) == []
    assert len(find_unsafe_code(source, "alexnet_tf/weights/other.py")) == 1
