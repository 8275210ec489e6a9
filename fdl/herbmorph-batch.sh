#!/bin/sh
# herbmorph-batch (OSCAR job): measure the manifest slice named in the job's JSON body.
# The supervisor ignores the exit status; failures are error documents in the results folder.
exec herbmorph batch --slice "$INPUT_FILE_PATH" --workers "${HERBMORPH_BATCH_WORKERS:-1}" --no-progress
