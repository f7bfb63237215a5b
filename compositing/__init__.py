"""Stage 3: place crops into real backgrounds at realistic sizes, blend them, and write YOLO labels."""
