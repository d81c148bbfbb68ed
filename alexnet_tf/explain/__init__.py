"""What AlexNet's units respond to: unit atlas, preferred images, attributions."""
