"""Recipes: one module per published study, run as ``python -m recipes.<name>``.

==========================  =========  ==========================================
recipe                      study      protocol
==========================  =========  ==========================================
``databiox_grading``        003        BCNet (frozen VGG16) on Databiox IDC grades
``breakhis_attention``      004        ResNet50 + attention on BreakHis, per
                                       magnification, vs ResNet50 and VGG16
``mammography_resnet``      000        ResNet18 / ResNet34 fine-tune, 4 classes
``busi_resnet9``            001        ResNet9 from scratch, Adam -> SGD one-cycle
``multi_cancer_resnet18``   002        frozen ResNet18 + new head per cancer type
==========================  =========  ==========================================

Each takes ``--data DIR`` for the real data set; without it, a demo runs on the
embedded synthetic dataset: train -> evaluate -> explain -> export -> a bundle in
``saved_models/``. Every setting is a flag (``--help``) or a key of ``--config FILE``.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ info lines, as the CLI
