"""``alexnet-studio install-desktop [--uninstall]``: add the app to the desktop's menu."""

from __future__ import annotations


def register(subparsers) -> None:
    """Add the ``install-desktop`` command."""
    parser = subparsers.add_parser(
        "install-desktop",
        help="add AlexNet Studio to the desktop's menu and 'Open with' for images",
        description="On Linux, write a menu entry (alexnet-studio.desktop) and the app's icons "
        "into $XDG_DATA_HOME (~/.local/share by default), registered for JPEG, PNG, BMP, GIF, "
        "WebP and TIFF images; no administrator rights needed. On Windows and macOS, make a "
        "desktop shortcut (needs `pip install pyshortcuts`). Prints every file written.",
    )
    parser.add_argument(
        "--uninstall", action="store_true", help="remove exactly the files an install wrote"
    )
    parser.set_defaults(handler=run_install_desktop)


def run_install_desktop(args) -> int:
    """Install or uninstall the menu entry and print what changed."""
    from ..desktop import (
        install_desktop_entry,
        is_freedesktop,
        launch_command,
        uninstall_desktop_entry,
    )

    if args.uninstall:
        changes = uninstall_desktop_entry()
        if changes.removed:
            print(f"Removed {len(changes.removed)} files:")
            for path in changes.removed:
                print(f"  {path}")
        else:
            print("Nothing to remove: AlexNet Studio was not in the desktop's menu.")
    else:
        changes = install_desktop_entry()
        print(f"Wrote {len(changes.written)} files:")
        for path in changes.written:
            print(f"  {path}")
        print(f"The menu entry starts: {' '.join(launch_command())}")
    for note in changes.notes:
        print(f"Note: {note}")
    if not args.uninstall and is_freedesktop():
        print(
            "AlexNet Studio is now in the applications menu (some desktops show it only after "
            "you log out and in) and in 'Open with' for images."
        )
    return 0
