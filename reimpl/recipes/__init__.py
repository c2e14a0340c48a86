"""Training recipes: a shared loop plus one module per model family."""
