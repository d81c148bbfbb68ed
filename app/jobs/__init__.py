"""Fine-tuning in the app: the Fine-tune page, the Jobs panel and the job processes.

``install_training(window)`` (in ``training_ui``) adds them to the main window. Nothing here
imports TensorFlow: jobs run as ``alexnet-studio train`` processes and are read from their
folders.
"""
