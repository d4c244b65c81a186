# One image for every command: blender, counter-service, pid-controller, cdctl, cd-simulate.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY services ./services
COPY blender ./blender
COPY counter_service ./counter_service
COPY pid_controller ./pid_controller
COPY cdctl ./cdctl
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN groupadd --system cd && useradd --system --gid cd --home-dir /app --create-home cd
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
USER cd
ENV CD_COUNTER_DATA_DIR=/app/data/counter \
    CD_BLENDER_CACHE_PATH=/app/data/blender/constants.cache.json \
    PYTHONUNBUFFERED=1
EXPOSE 8080 8081
CMD ["blender"]
