"""Privacy attacks, each played as a determined reader would."""
