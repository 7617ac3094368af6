"""The backtester (PRODUCT.md §11): pure loop, metrics and exports over plain data."""
