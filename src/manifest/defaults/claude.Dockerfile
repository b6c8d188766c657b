# The default bottle plus Claude Code.
# bot-bottle-cli: claude
# That line has bot-bottle get the pinned Claude Code before this build: from
# the npm registry when it answers (BOT_BOTTLE_CLI_NPM then names the package
# and the build installs it, with Node.js), else the binary from
# PyPI's claude-agent-sdk wheel (the official binary), digest
# checked, in the context's cli/ folder.
FROM debian:bookworm-slim
RUN if ! command -v curl >/dev/null || ! command -v git >/dev/null \
        || ! command -v ssh >/dev/null || ! [ -e /etc/ssl/certs/ca-certificates.crt ]; then \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
           bash curl git ca-certificates openssh-client \
      && rm -rf /var/lib/apt/lists/*; \
    fi
ARG BOT_BOTTLE_CLI_NPM=
COPY cli/ /usr/local/bin/
RUN if [ -n "$BOT_BOTTLE_CLI_NPM" ]; then \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
      && npm install --global "$BOT_BOTTLE_CLI_NPM" \
      && npm cache clean --force && rm -rf /var/lib/apt/lists/*; \
    fi \
    && claude --version
RUN useradd --create-home --uid 1000 --shell /bin/bash agent \
    && mkdir -p /workspace && chown agent:agent /workspace
USER agent
WORKDIR /workspace
