"""Latvian (latviešu valoda): the report's words in the thesis's own terms ("epohas laiks", "datu kopa",
"95% ticamības intervāls", "no RAM (lapu kešatmiņa)")."""

NAME = "latviešu"
DECIMAL = ","
THOUSANDS = "\u00a0"  # a no-break space: "10 000"
LIST_SEP = ";"  # the decimal comma is taken: "[0,12; 0,13]"
PLURAL = "latvian"

WORDS = {
    "headline.columns": ("Datu kopa", "Attēla izmērs", "Apmācības attēli", "Avots"),
    "read_from.warm": "no RAM (lapu kešatmiņa)",
    "read_from.cold": "no krātuves (izlikts no kešatmiņas)",
    "read_from.cold-unavailable": "no RAM (izlikšana neizdevās)",
    "flat_column": "{name} · {size} · {n} attēli · {source}",
    "rows": {"format": "Formāts", "access": "Piekļuves režīms", "batch_size": "Paketes izmērs", "workers": "Procesi",
             "worker_kind": "Procesi vai pavedieni", "device": "Ierīce", "world_size": "Rangi", "epochs_per_repeat": "Epohas",
             "warmup_epochs": "Iesildīšanas epohas", "machine": "Dators"},
    "headline.title": ("Galvenā tabula: stabilā režīma epohas laiks pēc formāta, datu kopas un izmēra, no RAM un no "
                       "krātuves"),
    "headline.heading": "Stabilā režīma epohas laiks (s)",
    "headline.caption": ("Stabilā režīma epohas laiks (s), {title}: katra atkārtojuma stabilo epohu (bez iesildīšanas "
                         "epohas) mediāna pār atkārtojumiem ar procentiļu bootstrap 95% ticamības intervālu. "
                         "Treknrakstā: ātrākais kolonnā, ja tā intervāls nepārklājas ar nevienu citu; citur ātrākais "
                         "nav izšķirts."),
    "headline.none": "Neviens mērījumu ieraksts netika atrasts.",
    "startup.title": "Ko maksā īss palaidiens: starta izmaksas pēc formāta",
    "startup.heading": "Starta izmaksas (s)",
    "startup.caption": ("Starta izmaksas (s), {title}, no RAM: par cik ilgāka bija atkārtojuma iesildīšanas epoha "
                        "nekā tā stabilās epohas (procesu palaišana, datu ielādes konveijera un lapu kešatmiņas "
                        "piepildīšana), mediāna pār atkārtojumiem ar procentiļu bootstrap 95% ticamības intervālu. "
                        "Treknrakstā: lētākais starts kolonnā, ja tā intervāls nepārklājas ar nevienu citu."),
    "startup.none": ("Nevienam ierakstam nav iesildīšanas epohas (ieraksti no laika pirms protokola starta "
                     "izmaksas ieskaita katrā epohā)."),
    "summary.title": "Mērījumu kopsavilkums",
    "summary.columns": {"dataset_name": "Datu kopa", "image_size": "Izmērs (px)", "n_train": "Attēli",
                        "batch_size": "Paketes izmērs", "workers": "Procesi", "worker_kind": "Procesi vai pavedieni",
                        "device": "Ierīce", "world_size": "Rangi",
                        "epochs_per_repeat": "Epohas", "workload": "Slodze", "cache": "Kešatmiņa",
                        "format": "Formāts", "access": "Piekļuves režīms", "runs": "Palaidieni",
                        "repeats": "Atkārtojumi",
                        "epoch_time": "Stabilā režīma epohas laiks (s), mediāna [95% ticamības intervāls]",
                        "samples_per_s": "Attēli/s", "au": "Paātrinātāja noslodze, visa epoha (%)",
                        "au_mlperf": "Paātrinātāja noslodze, MLPerf (%)", "startup_extra_s": "Starts (s)",
                        "bytes_on_disk": "Diskā (MiB)", "convert_s": "Pārveide (s)", "accuracy": "Precizitāte (%)",
                        "f1_macro": "Makro F1 (%)"},
    "summary.caption": ("Mērījumu kopsavilkums: stabilā režīma epohas laika mediāna ar procentiļu bootstrap 95\\% ticamības "
                        "intervālu pār atkārtojumiem, caurlaidspēja, paātrinātāja noslodze (visa epoha un MLPerf "
                        "noslodze bez pirmā soļa datu ielādes), starta izmaksas, krātuves izmaksas un modeļa "
                        "kvalitāte."),
    "chapter.lead": "Galvenie secinājumi",
    "chapter.headline": "Stabilā režīma epohas laiks",
    "chapter.startup": "Starta izmaksas",
    "chapter.summary": "Mērījumu kopsavilkums",
    "lead.heading": "Galvenie secinājumi",
    "missing.heading": "Apzīmējumi bez latviešu tulkojuma (parādīti angliski)",
    "estimate.single": "{median} ({n} vērtība, bez intervāla)",
    "effect": "{ratio}× (robežās no {low}× līdz {high}×)",
    "and": "un",
    "share.one": "tās vienīgajā nosacījumā",
    "share.many": "{n} no tās {total} nosacījumiem",
    "family.one": ("{dataset}: {family} ir ātrākā formātu saime {share}, tās 95% ticamības intervāls nepārklājas ar "
                   "nevienas citas saimes intervālu; pie {context} {top} epohas laiks ir {top_text}, bet nākamās "
                   "saimes labākajam, {runner}, {runner_text}."),
    "family.tied": ("{dataset}: nav vienas ātrākās formātu saimes {share}: {families} ir neizšķirti, to 95% "
                    "ticamības intervāli pārklājas; pie {context}: {listed}."),
    "family.alone": "{family} vienīgais ātrākais",
    "family.tie": "{families} neizšķirti",
    "family.in": "{outcome}: {n}",
    "family.elsewhere": " Citur: {others}.",
    "effect.format": ("Lielākā izšķirtā atšķirība starp formātiem: pie {context} {slow} epoha ilgst {ratio} ilgāk "
                      "nekā {fast}, piekļuves režīms {where} ({slow_text} pret {fast_text})."),
    "effect.access.alone": ("Starp piekļuves režīmiem: {slow} pret {fast} formātam {where} pie {context}, "
                            "{ratio}."),
    "effect.access.beside": ("Blakus tai, starp piekļuves režīmiem: {slow} pret {fast} formātam {where} pie "
                             "{context}, {ratio}."),
    "access_mode": "{mode}",
    "flip.none": ("Formātu secība nekur nemainās, kur to izšķir intervāli, ne starp datu kopām un izmēriem, ne no "
                  "RAM uz krātuvi."),
    "flip.once": "vienreiz, kur abas puses ir izšķirtas",
    "flip.many": "{n} gadījumos, kur abas puses ir izšķirtas; visspilgtāk",
    "flip": "Formātu secība mainās {how} ({context}): {a} ir ātrāks par {b} {a_side}, bet lēnāks {b_side}.",
    "flip.side": "{where} ({own} pret {other})",
    "flip.on": "uz {column}",
    "au.reach.item": "{label} {n} no {conditions} (labākā {best})",
    "au.reach": ("{name} ≥ 90% (MLPerf Storage slieksnis) ar visu intervālu virs tā: {listed}."),
    "au.none": ("Neviens formāta un piekļuves režīma pāris nesasniedz {name} ≥ 90% (MLPerf Storage slieksnis) "
                "ar visu intervālu."),
    "au.never": (" Zem tā visur, kur mērīts: {never}. Tuvākais no tiem, {closest}, sasniedz {best} "
                 "({context})."),
    "startup.lead.none": ("Starts: neviena starta izmaksa nav izšķirta virs nulles (katrs intervāls sniedzas "
                          "līdz 0 s)."),
    "startup.lead": ("Starts: lielākās izšķirtās īsa palaidiena izmaksas (iesildīšanas epohas laiks virs stabilās "
                     "epohas laika) ir {cost}, pie {context}."),
    "startup.cost": "{label} {extra} ({share}; pirmā pakete pēc {first} s)",
    "startup.share": "{share} no stabilās epohas",
    "startup.unknown": "stabilais stāvoklis nav zināms",
    "lossless.agree": ("Bezzudumu formāti apmācīja identiskus modeļus: precizitāte un makro F1 sakrīt "
                       "{count}."),
    "count.one": "vienīgajā {noun}",
    "count.all": "visās {n} {noun}",
    "nouns": {"condition": ("nosacījuma", "nosacījumiem"), "worker": ("process", "procesi"),
              "image": ("attēls", "attēli"),
              "comparable training configuration": ("salīdzināmajā apmācības konfigurācijā",
                                                    "salīdzināmajās apmācības konfigurācijās")},
}

# Data labels as the records and contexts name them, and their Latvian wording.
LABELS = {
    "CIFAR-10": "CIFAR-10",  # names keep their own wording
    "Tiny ImageNet": "Tiny ImageNet",
    "synthetic (generated)": "sintētiski (ģenerēti)",
    "High-res": "Augstas izšķirtspējas",
    "High-res (synthetic stand-in)": "Augstas izšķirtspējas (sintētisks aizstājējs)",
    "emulated H100": "emulēts H100",
    "loader only": "tikai datu ielāde",
    "warm": "silta",
    "cold": "auksta",
    "warm cache": "silta kešatmiņa",
    "cold cache": "auksta kešatmiņa",
    "from RAM": "no RAM",
    "from storage": "no krātuves",
    "from RAM (page cache)": "no RAM (lapu kešatmiņa)",
    "from storage (evicted)": "no krātuves (izlikts no kešatmiņas)",
}
