"""Start AlexNet Studio from a checkout: `python main.py [IMAGE ...]` or `main.py COMMAND`."""

import sys

from app.launch import main

if __name__ == "__main__":
    sys.exit(main())
