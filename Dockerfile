# blendaug: `docker run` runs the whole study (CUDA when the host has a GPU, CPU otherwise).
# The torch wheels carry the CUDA runtime, so the host needs only the NVIDIA driver + container toolkit.
FROM python:3.11-slim

# Local wheel mirrors (CI) or a torch CUDA variant index, e.g. https://download.pytorch.org/whl/cu126
ARG PIP_EXTRA_INDEX_URL=""
ARG PIP_TRUSTED_HOST=""

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    YOLO_CONFIG_DIR=/opt/blendaug/yolo_config \
    YOLO_OFFLINE=1 \
    YOLO_AUTOINSTALL=0 \
    MPLCONFIGDIR=/tmp/matplotlib

# OpenCV headless still needs these shared libraries.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libglib2.0-0 libgl1 libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/blendaug
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# Editable, so that the shipped configs/ stay next to the code.
RUN pip install --no-deps -e . \
    && python -c "from detection.yolo import ultralytics; ultralytics()" \
    && useradd --create-home --uid 1000 blendaug \
    && mkdir -p /data /runs \
    && chmod -R a+rwX /runs "$YOLO_CONFIG_DIR"

USER 1000:1000
VOLUME ["/data", "/runs"]
# `blendaug study` writes runs/<config name>, which lands in the /runs volume.
WORKDIR /
ENTRYPOINT ["blendaug"]
CMD ["study"]
