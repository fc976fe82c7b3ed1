"""cctv-twin: a capacity and failover digital twin of a city-scale CCTV network."""

__version__ = "0.1.0"
__all__ = ["__version__"]
