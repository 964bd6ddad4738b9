"""cs-playbook: analytics for customer-success teams at B2B SaaS companies."""

import warnings

__version__ = "0.1.0"

# pandera imports pyspark.pandas whenever pyspark is installed (for the Spark engine), and pyspark then warns
# about pandas 3 on every start, in the CLI and in every notebook kernel. The package never uses pyspark.pandas.
warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
