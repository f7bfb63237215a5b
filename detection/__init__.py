"""Stage 4: ultralytics YOLO training per arm and evaluation (mAP, IoU, count MAPE) on the real test split."""
