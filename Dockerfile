# blendaug: `docker run` runs the whole study (CUDA when the host has a GPU, CPU otherwise).
# The torch wheels carry the CUDA runtime, so the host needs only the NVIDIA driver + container toolkit.
FROM python:3.11-slim

# Local wheel mirrors (CI uses them to install torch without a big download).
ARG PIP_EXTRA_INDEX_URL=""
ARG PIP_TRUSTED_HOST=""
# Another torch CUDA variant for older drivers, e.g. https://download.pytorch.org/whl/cu126 (empty: PyPI's build).
ARG TORCH_INDEX_URL=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    YOLO_CONFIG_DIR=/opt/blendaug/yolo_config \
    YOLO_OFFLINE=1 \
    YOLO_AUTOINSTALL=0 \
    MPLCONFIGDIR=/tmp/matplotlib

# No apt packages: every wheel below bundles the shared libraries it loads (ldd: OpenCV headless needs no libGL
# or GLib, torch ships its own libgomp). libglib2.0-0 libgl1 libgomp1 (libgl1 pulls in Mesa and LLVM) were 353 MB.

# Only what the study needs at run time (requirements.txt); tests, lint and the labeling GUI stay out.
COPY requirements.txt /tmp/requirements.txt
RUN if [ -n "$TORCH_INDEX_URL" ]; then \
      pip install --index-url "$TORCH_INDEX_URL" torch==2.14.1 torchvision==0.29.1; \
    fi \
    && pip install -r /tmp/requirements.txt
# A plain (non-editable) install: the shipped configs are package data, so no source tree stays behind.
COPY . /tmp/blendaug-src
# The import writes ultralytics' settings; it also leaves a root-owned $MPLCONFIGDIR that a non-root user
# could not write, so that goes.
RUN pip install --no-deps /tmp/blendaug-src \
    && rm -rf /tmp/blendaug-src /tmp/requirements.txt \
    && python -c "from blendaug.detection.yolo import ultralytics; ultralytics()" \
    && rm -rf "$MPLCONFIGDIR" \
    && useradd --create-home --uid 1000 blendaug \
    && mkdir -p /data /runs \
    && chmod -R a+rwX /runs "$YOLO_CONFIG_DIR"

USER 1000:1000
VOLUME ["/data", "/runs"]
# `blendaug study` writes runs/<config name>, which lands in the /runs volume.
WORKDIR /
ENTRYPOINT ["blendaug"]
CMD ["study"]
