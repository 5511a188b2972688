"""The autonomica-pipeline program: validate the stack config, build the pipeline, export."""

from components.config import load
from components.pipeline import Pipeline

Pipeline("autonomica", load()).export()
