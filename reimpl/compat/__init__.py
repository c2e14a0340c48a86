"""Drop-in user APIs of other packages, built on this suite's models."""
