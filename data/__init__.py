"""Stage 1 of the pipeline: labeled images in, YOLO/COCO datasets, splits and object crops out.

The internal model (`blendaug.data.model`) is what every later stage reads: class names, images with their
size, boxes as ``xyxy`` pixels with class ids, and the split each image belongs to.
"""
