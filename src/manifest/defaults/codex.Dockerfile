# The default bottle plus OpenAI Codex (from the npm registry).
FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
         bash curl git ca-certificates openssh-client nodejs npm \
    && rm -rf /var/lib/apt/lists/* \
    && npm install --global @openai/codex \
    && npm cache clean --force
RUN useradd --create-home --uid 1000 --shell /bin/bash agent \
    && mkdir -p /workspace && chown agent:agent /workspace
USER agent
WORKDIR /workspace
