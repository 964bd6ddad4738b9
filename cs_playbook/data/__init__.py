"""The shared data layer: the data contract, loaders, usage and account measures, revenue."""
