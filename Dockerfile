# syntax=docker/dockerfile:1
# oidc-stepup: the ready provider server on Node.js 22 LTS.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# The example shop (examples/shop; `shop` in docker-compose.yml): runs from its TypeScript sources with tsx and
# openid-client, development dependencies the build stage already installed. `docker build .` builds the provider
# below (the last stage); `docker build --target shop .` builds this one.
FROM build AS shop
COPY examples/shop ./examples/shop
RUN mkdir -p .data && chown node:node .data
USER node
ENV SHOP_HOST=0.0.0.0 SHOP_PORT=8080
EXPOSE 8080
CMD ["node", "--import", "tsx", "examples/shop/main.ts"]

FROM node:22-bookworm-slim AS provider
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY views ./views
COPY locales ./locales
COPY assets ./assets
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/main.js"]
