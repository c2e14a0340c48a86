"""Datasets: the procedural toy benchmark, image folders and webdataset shards."""
