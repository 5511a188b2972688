"""The pipeline program: validate the stack config, build the product's pipeline, export."""

from components.config import load
from components.pipeline import Pipeline

config = load()
Pipeline(config.product.name, config).export()
