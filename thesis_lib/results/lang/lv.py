"""Latvian (latviešu valoda): the report's words in the thesis's own terms ("epohas laiks", "datu kopa",
"95% ticamības intervāls", "no RAM (lapu kešatmiņa)")."""

NAME = "latviešu"
DECIMAL = ","
THOUSANDS = "\u00a0"  # a no-break space: "10 000"
LIST_SEP = ";"  # the decimal comma is taken: "[0,12; 0,13]"
PLURAL = "latvian"

WORDS = {
    "section.intro": "# Rezultāti: kā glabāšanas formāts maina apmācību\n\nKatrs mērījumu ieraksts rezultātu mapē (viens JSON fails katram palaidienam, ko raksta `bench.ipynb` vai `python -m thesis_lib sweep`): vispirms galvenie secinājumi, tad galvenā tabula, attēli, pielikums ar visiem secinājumiem un neizšķirtības matricām un beigās neapstrādātie ieraksti. Rezultāti, kas mērīti uz ģenerētiem attēliem, apzīmēti kā *sintētiski (ģenerēti)* vai *sintētisks aizstājējs*.",
    "section.machines": "## Kur mērīts\n\nKatrs dators, no kura nāk ieraksti, ar tā datu mapes krātuvi (mērīta vienreiz katram datoram un mapei ar `python -m thesis_lib storage`): *no krātuves* tabulās zemāk nozīmē lasīšanu ar šiem ātrumiem. Ierakstīts arī `report/machines.md`.",
    "section.findings": "## Secinājumi\n\nDažas atziņas, ar kurām sākas rezultāti, katra ar saviem skaitļiem un 95% ticamības intervāliem, izvēlētas pēc noteikumiem `docs/design.md` (\"Lead findings: the rules\"). Visi secinājumi pa datu kopām un starp tām, kā arī neizšķirtības matricas ir pielikumā beigās (angliski); viss ierakstīts arī `report/findings.md` un `report/ties.md`.",
    "section.headline": "## Galvenā tabula: stabilā režīma epohas laiks pēc formāta, datu kopas un izmēra\n\nRindas: glabāšanas formāts (ar rakstīšanas un atvēršanas opcijām, kas atšķir tā variantus) un piekļuves režīms. Kolonnas: datu kopa, attēla izmērs, apmācības attēlu skaits un no kurienes baiti nolasīti: no RAM (silta lapu kešatmiņa) blakus krātuvei (izlikts no kešatmiņas pirms katras epohas). Šūnas: katra atkārtojuma stabilā režīma epohas laika (bez iesildīšanas epohas) mediāna pār atkārtojumiem sekundēs [95% ticamības intervāls pār atkārtojumiem]. Ierakstīts arī Markdown un LaTeX formā `report/headline.md` un `report/headline.tex`.",
    "section.startup": "## Ko maksā īss palaidiens: starta izmaksas\n\nKatra atkārtojuma pirmā epoha ir iesildīšana: startē procesi, piepildās datu ielādes konveijers un, lasot no RAM, lapu kešatmiņa. Šūnas: par cik sekundēm tā bija ilgāka nekā stabilā režīma epoha [95% ticamības intervāls pār atkārtojumiem]. Ierakstīts arī `report/startup.md` un `report/startup.tex`.",
    "section.why": "## Kāpēc: kas ierobežo katru galvenās tabulas rindu\n\nDatu ielādes ierobežojošais resurss katrai galvenās tabulas rindai, ko paredz ielādes jumta līnijas modelis (`notebooks/roofline.ipynb`, formulas `docs/design.md`) no datora profila `profiles/this-vm.json`: resurss, kas ierobežo lielāko daļu rindas palaidienu, ar tā izmaksām uz paketi, pēc tam pārējie ar to skaitu. Tas skaidro; lēmumu nosaka izmērītie laiki augstāk.",
    "why.binding": "Ierobežojošais resurss (palaidieni)",
    "why.no_profile": "Nav datora profila `profiles/this-vm.json`: to uzraksta `python -m thesis_lib roofline measure --out profiles/this-vm.json`.",
    "section.summary": "## Kopsavilkuma tabula\n\nViena rinda katram nosacījumam: epohas laiks, caurlaidspēja, paātrinātāja noslodze, krātuves izmaksas un modeļa kvalitāte. Ierakstīts arī Markdown un LaTeX formā `report/summary.md` un `report/summary.tex`.",
    "section.appendix": "## Pielikums: visi secinājumi un neizšķirtības matricas\n\nVisi secinājumi, no kuriem izvēlēti galvenie (angliski): pa datu kopām (katram iestatījumam, slodzei un kešatmiņas stāvoklim), starp datu kopām un izmēriem, un starta izmaksas. Tad neizšķirtības matricas: katram nosacījumam katrs formāts pret katru citu, `<`, ja rindas epohas laiks ir izšķirti īsāks, `>`, ja garāks, `≈`, ja 95% ticamības intervāli pārklājas.",
    "section.raw": "## Neapstrādātie ieraksti\n\nViena rinda katram palaidienam (ieraksta faila nosaukums ir `<run>.json`); viena rinda katram atkārtojumam (stabilais režīms un starts) `results.repeats_frame(runs)`, katra epoha, kā mērīta, `results.epochs_frame(runs)`.",
    "machines.columns": {"Machine": "Dators", "File system": "Failu sistēma", "Records": "Ieraksti",
                         "Sequential read (MB/s)": "Secīga lasīšana (MB/s)",
                         "4 KiB random reads (IOPS)": "4 KiB brīvpiekļuves lasījumi (IOPS)",
                         "4 KiB latency (µs)": "4 KiB latentums (µs)",
                         "64 KiB random reads (IOPS)": "64 KiB brīvpiekļuves lasījumi (IOPS)",
                         "64 KiB latency (µs)": "64 KiB latentums (µs)", "Page cache (GB/s)": "Lapu kešatmiņa (GB/s)",
                         "Storage note": "Piezīme par krātuvi"},
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
    "empty.none": "Mapē {folders} nav ierakstīts neviens palaidiens: nav par ko ziņot.",
    "empty.skipped": ("Mapē {folders} nav ierakstīts neviens palaidiens: visi režģa punkti tika izlaisti. "
                      "{skipped}. Katrs punkts ar iemeslu: `{listing}`."),
    "runs.read": "*Nolasīti palaidieni: {n}, no {folders}.*",
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
    "figure.epoch_time.heading": "Epohas laiks pēc formāta",
    "figure.epoch_time.note": ("Viens attēls katrai datu kopai. Silta lapu kešatmiņa. Stabiņi: epohas laika mediāna; "
                               "ūsas: bootstrap 95% ticamības intervāls."),
    "figure.epoch_time.title": ("Epohas laiks pēc glabāšanas formāta (silta kešatmiņa): mediāna ar bootstrap 95% "
                                "ticamības intervālu"),
    "figure.epoch_time.value": "Epohas laiks (s)",
    "figure.epoch_time.empty": "šajos ierakstos nav epohu ar siltu kešatmiņu",
    "figure.throughput.heading": "Caurlaidspēja pret attēla izmēru",
    "figure.throughput.note": ("Logaritmiskas asis. Raustītā līnija ir tas, ko viens H100 patērē, apmācot ResNet-18 "
                               "(36 300 attēli/s pie 32 px, 15 250 pie 64 px, citur pakāpes likums): datu ielāde "
                               "zem tās šo GPU atstātu dīkstāvē."),
    "figure.throughput.title": ("Caurlaidspēja pret attēla izmēru (silta kešatmiņa): mediāna ar bootstrap 95% "
                                "ticamības intervālu"),
    "figure.throughput.x": "Attēla izmērs (px, logaritmiska skala)",
    "figure.throughput.value": "Attēli/s (logaritmiska skala)",
    "figure.throughput.empty": "šajos ierakstos nav epohu ar siltu kešatmiņu",
    "figure.throughput.h100": "viens H100, ResNet-18",
    "figure.au.heading": "Paātrinātāja noslodze ar emulētu H100",
    "figure.au.note": ("Noslodze = aprēķins / kopējais laiks katra atkārtojuma stabilajās epohās, paātrinātāju "
                       "emulējot ar fiksētu aprēķina laiku paketei (kā to dara DLIO). MLPerf Storage prasa noslodzi "
                       "≥ 90%."),
    "figure.au.title": ("Paātrinātāja noslodze (MLPerf, stabilais režīms) ar emulētu paātrinātāju: mediāna pār "
                        "atkārtojumiem ar bootstrap 95% ticamības intervālu"),
    "figure.au.value": "MLPerf noslodze = aprēķins / (kopējais laiks − pirmās paketes gaidīšana) (%)",
    "figure.au.empty": "šajos ierakstos nav palaidienu ar emulētu paātrinātāju",
    "figure.au.bar": "MLPerf Storage: 90%",
    "figure.cold_warm.heading": "Auksta pret siltu lapu kešatmiņu",
    "figure.cold_warm.note": "Aukstās epohas sākas pēc tam, kad datu kopas faili izlikti no lapu kešatmiņas.",
    "figure.cold_warm.title": ("Auksta pret siltu lapu kešatmiņu: epohas laika mediāna ar bootstrap 95% ticamības "
                               "intervālu"),
    "figure.cold_warm.category": "Glabāšanas formāts / piekļuves režīms",
    "figure.cold_warm.value": "Epohas laiks (s)",
    "figure.cold_warm.empty": "šajos ierakstos nav palaidienu ar aukstu kešatmiņu",
    "figure.cold_warm.hue": "lapu kešatmiņa",
    "figure.storage.heading": "Krātuves izmaksas: baiti diskā un pārveides laiks",
    "figure.storage.note": "",
    "figure.storage.title": "Katra formāta krātuves izmaksas",
    "figure.storage.empty": "nav ierakstu",
    "figure.storage.size": "Izmērs diskā (MiB)",
    "figure.storage.convert": "Pārveides laiks (s)",
    "figure.storage.hue": "pārveidotā kopija",
    "figure.accuracy.heading": "Modeļa kvalitāte: precizitāte un makro F1",
    "figure.accuracy.note": ("Bezzudumu formāti glabā tos pašus baitus, tāpēc ar vienādu apmācības konfigurāciju tiem "
                             "jāapmāca viens un tas pats modelis."),
    "figure.accuracy.title": ("Testa precizitāte un makro F1 pēc glabāšanas formāta: mediāna pār palaidieniem, "
                              "bootstrap 95% ticamības intervāls"),
    "figure.accuracy.value": "Testa kopa (%)",
    "figure.accuracy.empty": "šajos ierakstos nav apmācītu modeļu (ar precizitāti)",
    "figure.accuracy.metrics": ("precizitāte (%)", "makro F1 (%)"),
    "figure.object_store.heading": "Dati objektu krātuvē: caurlaidspēja pret zarr gabala izmēru",
    "figure.object_store.note": ("Katrs palaidiens augšupielādē savu kopiju privātā S3 serverī (SeaweedFS) un lasa to "
                                 "pa S3 tieši vai caur savienojumu, kas katram pieprasījumam un katrai atbildei "
                                 "pievieno norādīto latentumu. Logaritmiskas asis; mediāna pār atkārtojumiem ar "
                                 "bootstrap 95% ticamības intervāliem. npy lasa rindu virknes ar diapazona GET "
                                 "pieprasījumiem, files – vienu GET katram attēlam: tiem nav gabalu, tāpēc tie "
                                 "parādīti blakus zarr lasīšanas ceļiem."),
    "figure.object_store.title": "Caurlaidspēja pa S3 pret zarr gabala izmēru, viena līnija katram latentumam",
    "figure.object_store.x": "Attēli vienā zarr gabalā (logaritmiska skala)",
    "figure.object_store.value": "Attēli/s (logaritmiska skala)",
    "figure.object_store.whole": "bez gabaliem",
    "figure.object_store.latency": "{ms} ms",
    "figure.object_store.legend": "pievienotais latentums katrā virzienā ({n} vienlaicīgi pieprasījumi)",
    "figure.object_store.other_concurrency": "cits vienlaicīgo pieprasījumu skaits",
    "figure.object_store.in_flight": "{n} vienlaicīgi",
    "figure.object_store.h100": "viens H100, ResNet-18",
    "figure.object_store.empty": "šajos ierakstos nav palaidienu pa S3",
    "object_store.best": ("{context}, {path} pa S3 ar {ms} ms: visātrāk lasa {chunk} attēlu gabali, {rate}, to "
                          "intervāls nepārklājas ne ar viena cita gabala izmēra intervālu; nākamie – {next} attēlu "
                          "gabali: {next_rate}."),
    "object_store.tied": ("{context}, {path} pa S3 ar {ms} ms: viena labākā gabala izmēra nav; {chunks} attēlu "
                          "gabalu intervāli pārklājas."),
    "object_store.unit": " attēli/s",
    "object_store.chunk": "{path} ar {chunk} attēlu gabaliem",
    "object_store.concurrency": ("{context}, {where} pa S3 ar {ms} ms: {many} vienlaicīgi pieprasījumi {few} vietā "
                                 "padara epohu {effect} ātrāku ({fast} pret {slow})."),
    "object_store.concurrency.costs": ("{context}, {where} pa S3 ar {ms} ms: {many} vienlaicīgi pieprasījumi {few} "
                                       "vietā padara epohu lēnāku, {effect} no ātruma ({fast} pret {slow})."),
    "object_store.concurrency.tied": ("{context}, {where} pa S3 ar {ms} ms: starp {many} un {few} vienlaicīgiem "
                                      "pieprasījumiem atšķirība nav izšķirta, {effect} ({fast} pret {slow})."),
    "figure.category": "Glabāšanas formāts",
    "figure.access": "piekļuves režīms",
    "figure.caption": "{heading}: {dataset}.",
    "chapter.lead": "Galvenie secinājumi",
    "chapter.headline": "Stabilā režīma epohas laiks",
    "chapter.startup": "Starta izmaksas",
    "chapter.figures": "Attēli",
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
    "batch": "pakete {n}",
    "nouns": {"condition": ("nosacījuma", "nosacījumiem"), "worker": ("process", "procesi"),
              "epoch": ("epoha", "epohas"), "rank": ("rangs", "rangi"),
              "warm-up epoch": ("iesildīšanas epoha", "iesildīšanas epohas"),
              "image": ("attēls", "attēli"), "request": ("pieprasījums", "pieprasījumi"),
              "comparable training configuration": ("salīdzināmajā apmācības konfigurācijā",
                                                    "salīdzināmajās apmācības konfigurācijās")},
}

# Data labels as the records and contexts name them, and their Latvian wording.
LABELS = {
    "CIFAR-10": "CIFAR-10",  # names keep their own wording
    "Tiny ImageNet": "Tiny ImageNet",
    "S3": "S3",
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
