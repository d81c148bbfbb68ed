"""The AlexNet Studio desktop app (PySide6). Importing it must not import TensorFlow."""
