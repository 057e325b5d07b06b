"""predictivity — neural predictivity vs log participation ratio, explained by spectral theory.

Thin by design (docs/design.md#layout): validate the config, include one .smk per stage, name
the targets. Run the offline demo with `snakemake --cores 2`; see README.md.
"""

from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")


if not workflow.overwrite_configfiles:

    # The demo config only when no --configfile is given: `--configfile my.yaml` then means "only
    # my config". (Cluster jobs receive --configfile but not --replace-workflow-config in
    # Snakemake 9.27, so merging would add the demo's studies inside every cluster job.)
    configfile: os.path.join(workflow.basedir, "config", "config.yaml")


from predictivity.config import check_config, load_schema

_schema_path = os.path.join(
    workflow.basedir, "workflow", "schemas", "config.schema.yaml"
)
check_config(config, load_schema(_schema_path))  # one readable line naming the bad key
# Fills every default of the schema, nested ones included (each study's kind branch, its sections,
# every model's options): the rules and scripts read config["key"] without fallbacks.
validate(config, _schema_path)


include: "workflow/rules/common.smk"
include: "workflow/rules/download.smk"


# stages 1–3 of each study kind (stimuli, recordings, activations): one file per kind
for _kind_rules in sorted(
    Path(workflow.basedir, "workflow", "rules", "kinds").glob("*.smk")
):

    include: _kind_rules


include: "workflow/rules/eigen.smk"
include: "workflow/rules/spectra.smk"
include: "workflow/rules/regression.smk"
include: "workflow/rules/controls.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/mec_criteria.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/fits.smk"
include: "workflow/rules/figures.smk"


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        final_targets(),
