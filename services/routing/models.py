"""Routing's tables. Its business tables join the backbone tables here as its issue lands."""
from shared.db import add_backbone_tables, new_metadata

metadata = new_metadata()
backbone = add_backbone_tables(metadata)
