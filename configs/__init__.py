"""The shipped study configs (``*.yaml``), installed as package data of ``blendaug.configs``."""
