# Sextant web, worker and beat image (the same image, different commands).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv/sextant

COPY pyproject.toml README.md ./
COPY app ./app
COPY worker ./worker
RUN pip install -e .

COPY alembic.ini ./
COPY migrations ./migrations
COPY templates ./templates
COPY static ./static

RUN useradd --create-home --uid 1000 sextant && mkdir -p /data && chown sextant /data
USER sextant
ENV SEXTANT_DATA_DIR=/data SEXTANT_HOST=0.0.0.0 SEXTANT_PORT=8000
EXPOSE 8000
CMD ["sextant", "serve"]
