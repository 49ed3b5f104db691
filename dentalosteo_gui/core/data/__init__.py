"""Datasets: the labels.csv format, phantoms, evaluation protocols and metrics."""
