"""Entry of `alexnet-studio`: a subcommand runs the command line, existing paths (or nothing)
open the app, and any other first word is an unknown command (exit status 2).

Kept free of Qt and TensorFlow imports so that command-line use does not load Qt and the
window can appear before TensorFlow is imported.
"""

from __future__ import annotations

import os
import sys
import time

LAUNCHED = time.time()  # where /proc cannot say when the process started (app.log)

# Set to 1 (by the desktop-entry test) to print one JSON line per image once the window shows
# its results, then close the window: proof that a launch opened the window with that image.
EXIT_AFTER_SHOWN_ENV = "ALEXNET_STUDIO_EXIT_AFTER_SHOWN"


def _exit_after_image_shown() -> None:
    """Make the window report the image it shows and close, once the event loop runs."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from alexnet_tf.fileio import json_text
    from app.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])  # run_app reuses it

    def report(window: MainWindow) -> None:
        result = window.current_result
        shown = {"shown": str(result.path), "title": window.windowTitle()}
        print(json_text({**shown, "visible": window.isVisible()}), flush=True)
        window.close()

    def connect() -> None:
        for widget in app.topLevelWidgets():
            if isinstance(widget, MainWindow):
                widget.image_shown.connect(lambda _name, w=widget: report(w))

    QTimer.singleShot(0, connect)  # runs in app.exec(), after run_app made the window


def unknown_command_message(word: str, commands) -> str:
    """What to say when the first word is neither a command nor an existing file or folder."""
    import difflib

    close = difflib.get_close_matches(word, sorted(commands), n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return (
        f"alexnet-studio: unknown command '{word}'{hint}\n"
        f"No file or folder named '{word}' exists either. Commands: {', '.join(sorted(commands))}"
        " (alexnet-studio --help)."
    )


def main(argv: list[str] | None = None) -> int:
    """Run ``alexnet-studio [COMMAND ...] | [IMAGE ...]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from alexnet_tf.quiet import VERBOSE_ENV, quiet_tensorflow

    if "--verbose" in argv:  # anywhere, for commands and the app alike; children inherit it
        argv.remove("--verbose")
        os.environ[VERBOSE_ENV] = "1"
    from alexnet_tf import cli

    commands = cli.command_names()
    if argv and (argv[0] in commands or argv[0] in ("-h", "--help")):
        # Before anything imports TensorFlow: its C++ start-up lines go to the log.
        quiet_tensorflow()
        return cli.run(argv)
    if argv and not os.path.lexists(argv[0]):
        # A typo of a command ("evalute photos") must not open the window on a missing file.
        print(unknown_command_message(argv[0], commands), file=sys.stderr)
        return 2
    # The window opens with the ImageNet model: check its LiteRT flatbuffer while Qt imports.
    from alexnet_tf.litert_classifier import prefetch

    prefetch(None)
    from app.main_window import run_app

    if os.environ.get(EXIT_AFTER_SHOWN_ENV) == "1":
        _exit_after_image_shown()
    return run_app(argv)


if __name__ == "__main__":
    sys.exit(main())
