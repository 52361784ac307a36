"""Recipes: one module per published study, run as ``python -m recipes.<name>``.

The recipes (study 003 BCNet on Databiox, 004 attention ResNet50 on BreakHis, 000
mammography ResNet18/34, 001 BUSI ResNet9, 002 multi-cancer ResNet18) build on the data
layer, model zoo, training engine and evaluation; they are added with those layers.
"""
