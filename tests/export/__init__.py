"""The workstation side: training folders, importers, training, evaluation, annotation, deploy."""
