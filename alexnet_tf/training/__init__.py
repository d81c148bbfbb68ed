"""Fine-tuning: strategy selection, the input pipeline, the custom loop and the job folder.

Kept free of imports so that ``import alexnet_tf.training`` stays cheap; import the
sub-modules (``strategy``, ``pipeline``, ``job``, ``loop``) where they are needed.
"""
