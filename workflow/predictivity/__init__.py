"""predictivity: how much of a layer's "brain score" is a property of linear regression.

Pure, unit-tested functions (arrays in, arrays or tables out) used by the Snakemake workflow's
thin scripts. The mathematical conventions and table schemas: docs/design.md.
"""

__version__ = "0.1.0"
