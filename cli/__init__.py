"""The `showdown` console command: one module per command group."""
