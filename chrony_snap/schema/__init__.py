"""The JSON Schema of data.json (schema_version 1), shipped with the package."""

import os

SCHEMA_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data-v1.schema.json")


def load():
    import json

    with open(SCHEMA_PATH, encoding="utf-8") as f:
        return json.load(f)
