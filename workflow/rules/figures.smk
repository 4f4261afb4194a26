# Figures: the paper's Figures 1 (e±) and 2 (nuclei), the dipole components per species and the
# sky maps at the lowest threshold. Figures 1 and 2 read the tables of their own species only, so a
# change to the protons does not redraw Figure 1.

E_PM = ("electron", "positron")
NUCLEI = ("proton", "helium", "carbon", "oxygen")


rule figure1_electrons_positrons:
    input:
        tables=[f"{OUT}/tables/{s}_dipole_limits.csv" for s in analysis_species() if s in E_PM],
    output:
        png=report(
            f"{SET_OUT}/figures/figure1_electrons_positrons.png",
            caption="../report/figure1.rst",
            category="Figures",
        ),
        pdf=f"{SET_OUT}/figures/figure1_electrons_positrons.pdf",
    params:
        figure="figure1",
        label=config.get("figures", {}).get("label", ""),
        mark_paper_limits=config.get("compare_with_paper", False),
        code=code_hash("render_figures.py"),
    log:
        f"{SET_OUT}/logs/figure1.log",
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/figures.yaml"
    script:
        "../../scripts/render_figures.py"


rule figure2_nuclei:
    input:
        tables=[f"{OUT}/tables/{s}_dipole_limits.csv" for s in analysis_species() if s in NUCLEI],
    output:
        png=report(
            f"{SET_OUT}/figures/figure2_nuclei.png",
            caption="../report/figure2.rst",
            category="Figures",
        ),
        pdf=f"{SET_OUT}/figures/figure2_nuclei.pdf",
    params:
        figure="figure2",
        label=config.get("figures", {}).get("label", ""),
        mark_paper_limits=config.get("compare_with_paper", False),
        code=code_hash("render_figures.py"),
    log:
        f"{SET_OUT}/logs/figure2.log",
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/figures.yaml"
    script:
        "../../scripts/render_figures.py"


rule species_figures:
    input:
        table=f"{OUT}/tables/{{species}}_dipole_limits.csv",
        counts=f"{OUT}/maps/{{species}}/counts.fits",
        reference=f"{OUT}/maps/{{species}}/reference_nominal.fits",
    output:
        components=report(
            f"{OUT}/figures/{{species}}_components.png",
            caption="../report/components.rst",
            category="Dipole components",
            subcategory="{species}",
        ),
        components_pdf=f"{OUT}/figures/{{species}}_components.pdf",
        skymaps=report(
            f"{OUT}/figures/{{species}}_skymaps.png",
            caption="../report/skymaps.rst",
            category="Sky maps",
            subcategory="{species}",
        ),
        skymaps_pdf=f"{OUT}/figures/{{species}}_skymaps.pdf",
    params:
        figure="species",
        label=config.get("figures", {}).get("label", ""),
        smoothing_deg=config.get("figures", {}).get("smoothing_deg"),
        min_exposure_fraction=config["fit"]["min_exposure_fraction"],
        code=code_hash("render_figures.py"),
    log:
        f"{OUT}/logs/species_figures/{{species}}.log",
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/figures.yaml"
    script:
        "../../scripts/render_figures.py"
