# syntax=docker/dockerfile:1
# One image for all three services and the one-shot setup job:
#   docker build -t lifeline:0.1.0 .
#   docker run lifeline:0.1.0 serve orders --host 0.0.0.0     (or inventory, routing)
#   docker run lifeline:0.1.0 migrate --service all            (then: topics)
# Configuration comes only from LIFELINE_* environment variables (deploy/README.md).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv with the dependencies, then the project itself ---------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/lifeline
WORKDIR /src
# Dependencies first (their own layer, rebuilt only when pyproject.toml changes).
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && /opt/lifeline/bin/pip install -r /tmp/requirements.txt
COPY README.md ./
COPY shared ./shared
COPY services ./services
# Not editable: migrations (env.py, versions/, *.mako) ship as package data.
# The check runs from / so that it sees the installed package, not the sources in /src.
RUN /opt/lifeline/bin/pip install --no-deps . \
    && cd / && /opt/lifeline/bin/python -c \
        "from shared.migrations import SERVICES, code_heads; print({s: code_heads(s) for s in SERVICES})"

# --- runtime: the virtualenv on a slim base, as an unprivileged user -------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="lifeline" \
      org.opencontainers.image.description="Lifeline orders, inventory and routing services" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/lifeline/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LIFELINE_VAR_DIR=/tmp/lifeline
RUN groupadd --system --gid 10001 lifeline \
    && useradd --system --uid 10001 --gid lifeline --home-dir /home/lifeline --create-home \
        --shell /usr/sbin/nologin lifeline
COPY --from=build /opt/lifeline /opt/lifeline
WORKDIR /home/lifeline
USER 10001:10001
EXPOSE 8001 8002 8003
ENTRYPOINT ["lifeline"]
CMD ["serve", "orders", "--host", "0.0.0.0"]
