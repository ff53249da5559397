"""Explanations: why a detector called a file fake, and what each detector listens to (``bench explain``)."""
