#!/usr/bin/env python3
"""Writes the small VQA-VS directories the tests of vqa_load_vqavs read.

Standard library only and deterministic: running it again rewrites the same
bytes. Files go next to this script:

    python3 test/data/make_vqavs_data.py

    vqavs/                  a valid VQA-VS directory: Training, Val, IID-Test
                            and the nine OOD-Test sets, as the benchmark lays
                            them out
    vqavs_results_test.json predictions for every IID-Test question
    vqavs_missing_file/     the valid directory without one OOD annotation file
    vqavs_bad_json/         one OOD question file is not valid JSON
    vqavs_ans_mismatch/     Val-Ans.json lacks the annotation of a question
    vqavs_ood_not_in_test/  an OOD set holds a Training question
    vqavs_ood_differs/      an OOD set holds an IID-Test question with another text
    vqavs.md                what the files hold and the expected figures

It also writes the VQA-VS-shaped seeds of the vqa_json fuzzer
(test/fuzz/corpus/vqa_json/vs-*).

The expected accuracies in vqavs.md are computed here, with VQA-VS's scoring
(per question min(1, count / 3), count the raw answers equal to the
prediction, nothing normalised; each OOD set's accuracy rounded to 2
decimals; the headline the mean of the nine) and, for contrast, the official
VQA metric, so the tests check vqaprune against an independent
implementation.
"""

import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
FUZZ = os.path.join(HERE, '..', 'fuzz', 'corpus', 'vqa_json')

OOD_SETS = ['QT', 'KW', 'KWP', 'QT+KW', 'KO', 'KOP', 'QT+KO', 'KW+KO', 'QT+KW+KO']
LANGUAGE = ['QT', 'KW', 'KWP', 'QT+KW']
VISUAL = ['KO', 'KOP']
CROSS_MODAL = ['QT+KO', 'KW+KO', 'QT+KW+KO']

TYPES = {
    'color': ('what color is the', 'other'),
    'count': ('how many', 'number'),
    'yesno': ('is there a', 'yes/no'),
}
THINGS = {1: 'car', 2: 'dog', 3: 'kite', 4: 'bus', 5: 'boat', 6: 'cat', 7: 'cup'}


def question_text(kind, image, k):
    thing = THINGS[image] if k % 2 else 'sign'
    if kind == 'color':
        return 'What color is the %s?' % thing
    if kind == 'count':
        return 'How many %ss are there?' % thing
    return 'Is there a %s in the picture?' % thing


# question id -> (kind, multiple_choice_answer, [(raw answer, count)]);
# image = id // 100, so Training is images 1-3, Val 4, IID-Test 5-7.
TRAINING = {
    101: ('color', 'red', [('red', 6), ('Red', 2), ('blue', 2)]),
    102: ('count', '2', [('2', 6), ('two', 4)]),
    103: ('yesno', 'yes', [('yes', 9), ('no', 1)]),
    104: ('color', 'red', [('red', 8), ('orange', 2)]),
    201: ('color', 'blue', [('blue', 7), ('gray', 3)]),
    202: ('count', '2', [('2', 8), ('3', 2)]),
    203: ('yesno', 'no', [('no', 7), ('yes', 3)]),
    204: ('yesno', 'yes', [('yes', 10)]),
    301: ('color', 'red', [('red', 5), ('dark red', 5)]),
    302: ('count', '3', [('3', 6), ('three', 2), ('2', 2)]),
    303: ('yesno', 'yes', [('yes', 8), ('Yes', 2)]),
    304: ('count', '2', [('2', 10)]),
}
VAL = {
    401: ('color', 'red', [('red', 7), ('pink', 3)]),
    402: ('count', '2', [('2', 5), ('two', 5)]),
    403: ('yesno', 'yes', [('yes', 6), ('no', 4)]),
    404: ('yesno', 'no', [('no', 10)]),
}
IID_TEST = {
    501: ('color', 'blue', [('blue', 6), ('Blue', 2), ('red', 2)]),
    502: ('count', '3', [('3', 4), ('three', 4), ('2', 2)]),
    503: ('yesno', 'no', [('no', 8), ('yes', 2)]),
    504: ('color', 'red', [('red', 9), ('Red', 1)]),
    601: ('color', 'green', [('green', 5), ('Green', 3), ('blue', 2)]),
    602: ('count', '2', [('2', 7), ('two', 3)]),
    603: ('yesno', 'yes', [('yes', 5), ('no', 5)]),
    604: ('count', '4', [('4', 2), ('four', 6), ('3', 2)]),
    701: ('color', 'white', [('white', 4), ('gray', 4), ('red', 2)]),
    702: ('yesno', 'no', [('no', 6), ('No', 3), ('yes', 1)]),
    703: ('count', '1', [('1', 3), ('one', 3), ('2', 4)]),
    704: ('yesno', 'yes', [('yes', 10)]),
}
# each a subset of IID-Test, some questions in several sets
OOD = {
    'QT': [501, 601, 701],
    'KW': [502, 604],
    'KWP': [501, 703],
    'QT+KW': [601, 703, 604],
    'KO': [503, 603],
    'KOP': [603],
    'QT+KO': [701, 702, 703],
    'KW+KO': [502],
    'QT+KW+KO': [601, 604, 703, 503],
}
# an answer for every IID-Test question: right, partly right (one or two
# annotators gave it), wrong, and right only once normalised, which VQA-VS
# does not do ("Red" against nine "red")
RESULTS = {
    501: 'Blue',
    502: 'three',
    503: 'yes',
    504: 'Red',
    601: 'blue',
    602: '2',
    603: 'no',
    604: '4',
    701: 'red',
    702: 'No',
    703: 'one',
    704: 'no',
}


def expand(pairs):
    answers = []
    for text, n in pairs:
        answers.extend([text] * n)
    assert len(answers) == 10, pairs
    return answers[::2] + answers[1::2]


def ques_records(table, ids=None):
    return [{'image_id': qid // 100, 'question': question_text(table[qid][0], qid // 100, qid % 100),
             'question_id': qid} for qid in (ids or sorted(table))]


def ans_records(table, ids=None):
    out = []
    for qid in ids or sorted(table):
        kind, mc, pairs = table[qid]
        out.append({
            'question_type': TYPES[kind][0],
            'multiple_choice_answer': mc,
            'answers': [{'answer': a, 'answer_confidence': 'yes', 'answer_id': i + 1}
                        for i, a in enumerate(expand(pairs))],
            'image_id': qid // 100,
            'answer_type': TYPES[kind][1],
            'question_id': qid,
        })
    return out


def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(json.dumps(value) + '\n')


def write_directory(root, ood=OOD, val_ans_ids=None, ood_ques_override=None):
    if os.path.isdir(root):
        shutil.rmtree(root)
    for part, table in (('Training', TRAINING), ('Val', VAL), ('IID-Test', IID_TEST)):
        write_json(os.path.join(root, part, part + '-Ques.json'), ques_records(table))
        ids = val_ans_ids if part == 'Val' and val_ans_ids else None
        write_json(os.path.join(root, part, part + '-Ans.json'), ans_records(table, ids))
    everything = {**TRAINING, **VAL, **IID_TEST}
    for s in OOD_SETS:
        directory = os.path.join(root, 'OOD-Test', s)
        ques = ques_records(everything, ood[s])
        if ood_ques_override and s in ood_ques_override:
            ques = ood_ques_override[s](ques)
        write_json(os.path.join(directory, 'OOD-Test-%s-Ques.json' % s), ques)
        write_json(os.path.join(directory, 'OOD-Test-%s-Ans.json' % s), ans_records(everything, ood[s]))


# ---------------------------------------------------------------------------
# Scoring: VQA-VS's (exact match), and the official metric for contrast

def vqavs_accuracy(prediction, answers):
    return min(1.0, sum(1 for a in answers if a == prediction) / 3.0)


def official_accuracy(prediction, answers):
    """The official metric for these answers: none has punctuation, so
    normalising is lower-casing and number words to digits."""
    words = {'one': '1', 'two': '2', 'three': '3', 'four': '4'}

    def norm(t):
        return ' '.join(words.get(w, w) for w in t.lower().split())
    gts = answers
    res = prediction
    if len(set(gts)) > 1:
        res = norm(res)
    accs = []
    for i in range(len(gts)):
        others = gts[:i] + gts[i + 1:]
        accs.append(min(1.0, sum(1 for a in others if a == res) / 3.0))
    return sum(accs) / len(accs)


def round2(x):
    return round(x, 2)


def scores():
    per_question = {qid: vqavs_accuracy(RESULTS[qid], expand(IID_TEST[qid][2])) for qid in IID_TEST}
    official = {qid: official_accuracy(RESULTS[qid], expand(IID_TEST[qid][2])) for qid in IID_TEST}
    iid = round2(100 * sum(per_question.values()) / len(per_question))
    sets = {s: round2(100 * sum(per_question[q] for q in OOD[s]) / len(OOD[s])) for s in OOD_SETS}
    return per_question, official, iid, sets


def main():
    write_directory(os.path.join(HERE, 'vqavs'))
    write_json(os.path.join(HERE, 'vqavs_results_test.json'),
               [{'question_id': q, 'answer': RESULTS[q]} for q in sorted(RESULTS)])

    write_directory(os.path.join(HERE, 'vqavs_missing_file'))
    os.remove(os.path.join(HERE, 'vqavs_missing_file', 'OOD-Test', 'KOP', 'OOD-Test-KOP-Ans.json'))

    write_directory(os.path.join(HERE, 'vqavs_bad_json'))
    with open(os.path.join(HERE, 'vqavs_bad_json', 'OOD-Test', 'KW', 'OOD-Test-KW-Ques.json'), 'w') as f:
        f.write('[{"image_id": 5, "question": "How many boats are there?", "question_id" 502}]\n')

    write_directory(os.path.join(HERE, 'vqavs_ans_mismatch'), val_ans_ids=[401, 402, 404])

    write_directory(os.path.join(HERE, 'vqavs_ood_not_in_test'),
                    ood={**OOD, "QT+KO": [701, 203, 703]})

    def retext(ques):
        ques[1] = dict(ques[1], question='What is in the picture?')
        return ques
    write_directory(os.path.join(HERE, 'vqavs_ood_differs'), ood_ques_override={'KO': retext})

    # fuzz seeds: the first byte picks questions (0) or annotations (1)
    with open(os.path.join(FUZZ, 'vs-questions'), 'wb') as f:
        f.write(b'\x00' + (json.dumps(ques_records(IID_TEST)) + '\n').encode())
    with open(os.path.join(FUZZ, 'vs-annotations'), 'wb') as f:
        f.write(b'\x01' + (json.dumps(ans_records(IID_TEST, [501, 502, 503])) + '\n').encode())
    with open(os.path.join(FUZZ, 'vs-bad-ood-questions'), 'wb') as f:
        f.write(b'\x00[{"image_id": 5, "question": "How many boats are there?", "question_id" 502}]\n')

    per_question, official, iid, sets = scores()
    lines = []
    add = lines.append
    add('# VQA-VS test data')
    add('')
    add('Written by `make_vqavs_data.py` (Python 3 standard library, deterministic). Edit the')
    add('script, not the files, and run it again: `python3 test/data/make_vqavs_data.py`. The')
    add('figures below are computed by the same script, independently of vqaprune.')
    add('')
    add('## vqavs/')
    add('')
    add('A VQA-VS directory as the benchmark lays it out (`Training/Training-Ques.json` and')
    add('`-Ans.json`, the same for `Val` and `IID-Test`, `OOD-Test/<set>/OOD-Test-<set>-Ques.json`')
    add('and `-Ans.json`), its records in VQA-VS\'s field order, without `coco_split`.')
    add('Question id = image_id * 100 + k: Training %d questions (images 1-3), Val %d (image 4),'
        % (len(TRAINING), len(VAL)))
    add('IID-Test %d (images 5-7): %d in all. Three question types: "what color is the",'
        % (len(IID_TEST), len(TRAINING) + len(VAL) + len(IID_TEST)))
    add('"how many", "is there a".')
    add('')
    add('| OOD set | IID-Test questions |')
    add('|---|---|')
    for s in OOD_SETS:
        add('| %s | %s |' % (s, ', '.join(str(q) for q in OOD[s])))
    add('')
    add('%d memberships; %d distinct questions are in some set.'
        % (sum(len(v) for v in OOD.values()), len({q for v in OOD.values() for q in v})))
    add('')
    add('## vqavs_results_test.json')
    add('')
    add('An answer for every IID-Test question. Per question, VQA-VS\'s accuracy (exact match, no')
    add('normalisation, no averaging over annotator subsets) and the official one:')
    add('')
    add('| question | prediction | raw answers | VQA-VS | official |')
    add('|---|---|---|---|---|')
    for q in sorted(IID_TEST):
        raw = ', '.join('"%s" x%d' % p for p in IID_TEST[q][2])
        add('| %d | "%s" | %s | %.4f | %.4f |' % (q, RESULTS[q], raw, per_question[q], official[q]))
    add('')
    add('VQA-VS scoring, percentages rounded to 2 decimals per set as its code does:')
    add('')
    add('| set | accuracy |')
    add('|---|---|')
    add('| IID | %.2f |' % iid)
    for s in OOD_SETS:
        add('| %s | %.2f |' % (s, sets[s]))
    mean = sum(sets.values()) / 9
    add('| mean of the nine OOD sets | %.2f (unrounded %.6f) |' % (round2(mean), mean))
    add('| language (QT, KW, KWP, QT+KW) | %.2f |' % round2(sum(sets[s] for s in LANGUAGE) / 4))
    add('| visual (KO, KOP) | %.2f |' % round2(sum(sets[s] for s in VISUAL) / 2))
    add('| cross-modal (QT+KO, KW+KO, QT+KW+KO) | %.2f |'
        % round2(sum(sets[s] for s in CROSS_MODAL) / 3))
    add('')
    add('With the official metric the IID-Test accuracy would be %.2f.'
        % round2(100 * sum(official.values()) / len(official)))
    add('')
    add('## Bad directories')
    add('')
    add('Each is `vqavs/` with one fault, and `vqa_load_vqavs` must refuse it whole:')
    add('')
    add('- `vqavs_missing_file/`: no `OOD-Test/KOP/OOD-Test-KOP-Ans.json`;')
    add('- `vqavs_bad_json/`: `OOD-Test/KW/OOD-Test-KW-Ques.json` lacks a colon;')
    add('- `vqavs_ans_mismatch/`: `Val/Val-Ans.json` lacks question 403;')
    add('- `vqavs_ood_not_in_test/`: OOD set QT+KO holds 203, a Training question (record 1);')
    add('- `vqavs_ood_differs/`: OOD set KO gives question 603 another text (record 1).')
    with open(os.path.join(HERE, 'vqavs.md'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    main()
