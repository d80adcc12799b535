#!/usr/bin/env python3
"""Writes the small VQA files the tests of vqaprune read, and their README.

Standard library only and deterministic: running it again rewrites the same
bytes. Run it from anywhere; files go next to this script:

    python3 test/data/make_test_data.py

The expected vocabulary, soft targets, priors and accuracies written into
README.md are computed here with the rules vqaprune implements (the official
VQA normalisation and accuracy), so the README and the data cannot drift.
"""

import base64
import json
import os
import re
import struct
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------
# The official VQA normalisation (vqaEval.py), as vqaprune implements it.
# Contractions are left out: no answer here contains one.

PUNCT = [';', r"/", '[', ']', '"', '{', '}', '(', ')', '=', '+', '\\', '_',
         '-', '>', '<', '@', '`', ',', '?', '!']
PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
MANUAL_MAP = {'none': '0', 'zero': '0', 'one': '1', 'two': '2', 'three': '3',
              'four': '4', 'five': '5', 'six': '6', 'seven': '7', 'eight': '8',
              'nine': '9', 'ten': '10'}
ARTICLES = ['a', 'an', 'the']


def process_punctuation(text):
    out = text
    for p in PUNCT:
        if (p + ' ' in text or ' ' + p in text) or COMMA_STRIP.search(text):
            out = out.replace(p, '')
        else:
            out = out.replace(p, ' ')
    # the official code passes re.UNICODE (32) as the count
    return PERIOD_STRIP.sub('', out, 32)


def process_digit_article(text):
    words = []
    for w in text.lower().split():
        w = MANUAL_MAP.get(w, w)
        if w not in ARTICLES:
            words.append(w)
    return ' '.join(words)


def clean(text):
    return text.replace('\n', ' ').replace('\t', ' ').strip()


def normalize(text):
    return process_digit_article(process_punctuation(clean(text)))


def accuracy(prediction, gt_answers):
    """Official accuracy: the ground truth is only punctuation-processed,
    and only when the answers are not all the same."""
    gts = [clean(a) for a in gt_answers]
    res = clean(prediction)
    if len(set(gts)) > 1:
        gts = [process_punctuation(a) for a in gts]
        res = normalize(res)
    accs = []
    for i in range(len(gts)):
        others = gts[:i] + gts[i + 1:]
        accs.append(min(1.0, sum(1 for a in others if a == res) / 3.0))
    return sum(accs) / len(accs)


# ---------------------------------------------------------------------------
# Questions and answers

TYPES = {
    'color': ('what color is the', 'other'),
    'count': ('how many', 'number'),
    'yesno': ('is there a', 'yes/no'),
}

OBJECTS = {1: 'car', 2: 'bus', 3: 'kite', 4: 'train', 5: 'boat', 6: 'umbrella'}
COUNTED = {1: 'people', 2: 'dogs', 3: 'birds', 4: 'cups', 5: 'chairs', 6: 'horses'}
PRESENT = {1: 'dog', 2: 'cat', 3: 'tree', 4: 'clock', 5: 'bench', 6: 'flag'}


def question_text(kind, image, second=False):
    if kind == 'color':
        return 'What color is the %s?' % (('wall' if second else OBJECTS[image]))
    if kind == 'count':
        return 'How many %s are there?' % ('windows' if second else COUNTED[image])
    return 'Is there a %s in the picture?' % ('person' if second else PRESENT[image])


# Train: question id -> (kind, multiple_choice_answer, [(raw answer, count)])
TRAIN = {
    101: ('color', 'red', [('Red', 4), ('red.', 3), ('red', 1), ('blue', 2)]),
    102: ('count', '2', [('2', 5), ('two', 3), ('3', 2)]),
    103: ('yesno', 'yes', [('yes', 6), ('Yes', 2), ('yes!', 1), ('no', 1)]),
    104: ('color', 'yellow', [('yellow', 6), ('Yellow', 2), ('orange', 2)]),
    201: ('color', 'blue', [('blue', 5), ('Blue!', 2), ('red', 2), ('green', 1)]),
    202: ('count', 'two', [('two', 4), ('2', 4), ('Two.', 1), ('3', 1)]),
    203: ('yesno', 'no', [('no', 7), ('No', 2), ('yes', 1)]),
    204: ('count', '2', [('2', 7), ('3', 3)]),
    301: ('color', 'Red', [('red', 6), ('dark red', 2), ('Red', 2)]),
    302: ('count', '3', [('3', 6), ('three', 2), ('4', 2)]),
    303: ('yesno', 'Yes', [('Yes', 5), ('yes', 3), ('no', 2)]),
    304: ('yesno', 'yes', [('yes', 8), ('maybe', 2)]),
    401: ('color', 'green', [('green', 7), ('the green', 1), ('blue', 2)]),
    402: ('count', '1', [('1', 5), ('one', 2), ('none', 1), ('2', 2)]),
    403: ('yesno', 'no', [('no', 5), ('yes', 5)]),
    404: ('color', 'red', [('blue', 4), ('red', 4), ('green', 2)]),
    501: ('color', 'white', [('white', 4), ('red', 3), ('white.', 3)]),
    502: ('count', '0', [('0', 3), ('zero', 3), ('none', 2), ('1', 2)]),
    503: ('yesno', 'yes', [('yes', 9), ('no', 1)]),
    504: ('count', '3', [('3', 5), ('Three', 3), ('2', 2)]),
    601: ('color', 'blue', [('red', 5), ('blue', 5)]),
    602: ('count', '4', [('4', 5), ('four', 3), ('3', 2)]),
    603: ('yesno', 'no', [('no', 4), ('No.', 4), ('yes', 2)]),
    604: ('yesno', 'no', [('no', 6), ('yes', 4)]),
}

# Test: the same types, answers distributed differently (more blue, green,
# 3 and 4, and "no").
TEST = {
    105: ('color', 'blue', [('blue', 6), ('Blue', 2), ('green', 2)]),
    106: ('yesno', 'no', [('no', 8), ('yes', 2)]),
    205: ('count', '3', [('3', 5), ('three', 3), ('4', 2)]),
    206: ('yesno', 'no', [('no', 6), ('No!', 2), ('yes', 2)]),
    305: ('color', 'green', [('green', 5), ('Green.', 3), ('blue', 2)]),
    306: ('yesno', 'yes', [('yes', 5), ('no', 5)]),
    405: ('count', '4', [('4', 6), ('four', 2), ('5', 2)]),
    406: ('yesno', 'no', [('no', 9), ('yes', 1)]),
    505: ('color', 'blue', [('blue', 4), ('white', 3), ('gray', 3)]),
    506: ('yesno', 'no', [('no', 7), ('yes', 3)]),
    605: ('count', '3', [('3', 4), ('2', 3), ('4', 3)]),
    606: ('yesno', 'no', [('no', 6), ('yes', 4)]),
}

# Predictions for every test question: right, partly right, wrong, and
# answers that only match once normalised.
RESULTS = {
    105: 'Blue.',
    106: 'no',
    205: 'three',
    206: 'yes',
    305: 'the green',
    306: 'yes',
    405: '5',
    406: 'No!',
    505: 'white',
    506: 'no',
    605: 'two',
    606: 'maybe',
}

# VQA v2 validation: (question id, image, kind, mc, answers)
VQA2 = [
    (1007, 1, 'color', 'red', [('red', 8), ('maroon', 2)]),
    (2007, 2, 'count', '2', [('2', 9), ('two', 1)]),
    (3007, 3, 'yesno', 'yes', [('yes', 10)]),
    (4007, 4, 'color', 'white', [('white', 6), ('cream', 4)]),
    (5007, 5, 'count', '1', [('1', 7), ('one', 3)]),
    (6007, 6, 'yesno', 'no', [('no', 8), ('yes', 2)]),
]


def expand(pairs):
    answers = []
    for text, n in pairs:
        answers.extend([text] * n)
    assert len(answers) == 10, pairs
    # interleave so that equal answers are not all next to each other
    return answers[::2] + answers[1::2]


def question_records(table, second_text=False):
    out = []
    for i, qid in enumerate(sorted(table)):
        kind = table[qid][0]
        image = qid // 100
        out.append({
            'image_id': image,
            'question': question_text(kind, image, second_text and qid % 100 >= 4),
            'question_id': qid,
            'coco_split': 'train2014' if i % 2 == 0 else 'val2014',
        })
    return out


def annotation_records(table):
    out = []
    for qid in sorted(table):
        kind, mc, pairs = table[qid]
        qtype, atype = TYPES[kind]
        out.append({
            'question_type': qtype,
            'multiple_choice_answer': mc,
            'answers': [{'answer': a} for a in expand(pairs)],
            'image_id': qid // 100,
            'answer_type': atype,
            'question_id': qid,
        })
    return out


def write(name, text):
    with open(os.path.join(HERE, name), 'w', encoding='utf-8', newline='\n') as f:
        f.write(text)


def write_json(name, value, **kw):
    write(name, json.dumps(value, **kw) + '\n')


# ---------------------------------------------------------------------------
# Region features

IMAGE_SIZES = {1: (640, 480), 2: (500, 375), 3: (427, 640), 4: (612, 612),
               5: (800, 600), 6: (333, 500)}   # (width, height)
NUM_BOXES = 4
FEATURE_DIM = 8


def image_boxes(image):
    """Four boxes (x1, y1, x2, y2) in pixels; fractions 1/10, 1/4, 1/2 of the size."""
    w, h = IMAGE_SIZES[image]
    return [
        (w / 10, h / 10, w / 2, h / 2),
        (0.0, 0.0, float(w), float(h)),
        (w / 4, h / 2, w * 3 / 4, float(h)),
        (w / 2, h / 4, w * 9 / 10, h * 3 / 4),
    ]


def image_features(image):
    """feature[b][d] = (image * 100 + b * 10 + d) / 8, exact in float32."""
    return [[(image * 100 + b * 10 + d) / 8 for d in range(FEATURE_DIM)]
            for b in range(NUM_BOXES)]


def b64(fmt, values):
    return base64.b64encode(struct.pack('<%d%s' % (len(values), fmt), *values)).decode('ascii')


def lxmert_line(image, boxes=None, features=None, feature_b64=None):
    w, h = IMAGE_SIZES[image]
    boxes = image_boxes(image) if boxes is None else boxes
    flat_boxes = [c for box in boxes for c in box]
    features = image_features(image) if features is None else features
    flat = [v for row in features for v in row]
    fields = [
        'COCO_train2014_%012d' % image, str(h), str(w),
        b64('q', [image * 10 + b for b in range(NUM_BOXES)]),
        b64('f', [0.5 + b / 8 for b in range(NUM_BOXES)]),
        b64('q', [b for b in range(NUM_BOXES)]),
        b64('f', [0.25] * NUM_BOXES),
        str(NUM_BOXES), b64('f', flat_boxes),
        feature_b64 if feature_b64 is not None else b64('f', flat),
    ]
    return '\t'.join(fields) + '\n'


def bottomup_line(image):
    w, h = IMAGE_SIZES[image]
    flat_boxes = [c for box in image_boxes(image) for c in box]
    flat = [v for row in image_features(image) for v in row]
    return '\t'.join([str(image), str(w), str(h), str(NUM_BOXES),
                      b64('f', flat_boxes), b64('f', flat)]) + '\n'


def f32(x):
    return struct.unpack('<f', struct.pack('<f', x))[0]


# ---------------------------------------------------------------------------
# Expected values for the README

def vocabulary():
    """Normalised multiple_choice_answer of the train questions occurring at
    least twice, by count descending then answer; ids from 0."""
    counts = Counter(normalize(TRAIN[q][1]) for q in TRAIN)
    vocab = [(a, n) for a, n in counts.items() if n >= 2 and a != '']
    vocab.sort(key=lambda an: (-an[1], an[0]))
    return vocab, counts


def soft_targets(table, vocab_ids):
    out = {}
    for qid in sorted(table):
        counts = Counter(normalize(a) for a in expand(table[qid][2]))
        out[qid] = sorted((vocab_ids[a], a, min(1.0, n / 3.0))
                          for a, n in counts.items() if a in vocab_ids)
    return out


def fmt(x):
    return ('%.4f' % x).rstrip('0').rstrip('.') if x != int(x) else '%d' % x


def readme(vocab, mc_counts, train_targets, test_targets, priors, accs):
    L = []
    add = L.append
    add('# Test data')
    add('')
    add('Small VQA files for the tests of vqaprune, all written by')
    add('`make_test_data.py` (Python 3 standard library, deterministic). Edit the')
    add('script, not the files, and run it again: `python3 test/data/make_test_data.py`.')
    add('The expected values below are computed by the same script.')
    add('')
    add('## VQA-CP v2 layout (plain JSON lists)')
    add('')
    add('### vqacp_train_questions.json, vqacp_train_annotations.json')
    add('')
    add('24 questions on images 1..6, question id = image_id * 100 + k (k = 1..4):')
    add('101-104, 201-204, ..., 601-604. `coco_split` alternates train2014 /')
    add('val2014 in file order (101 is train2014, 102 val2014, ...). Three question')
    add('types: "what color is the" (answer_type other), "how many" (number), "is')
    add('there a" (yes/no); k = 1, 2, 3 are these types, k = 4 cycles through them')
    add('(104 color, 204 how many, 304 is there, 404 color, 504 how many, 604 is')
    add('there). Question 101 is "What color is the car?". Each question has 10')
    add('annotator answers with normalisation variants ("Red", "red.", "two",')
    add('"Blue!", "the green", "none", "No.") and some disagreement.')
    add('')
    add('| question | type | multiple_choice_answer | raw answers (count) |')
    add('|---|---|---|---|')
    for qid in sorted(TRAIN):
        kind, mc, pairs = TRAIN[qid]
        add('| %d | %s | %s | %s |' % (qid, TYPES[kind][0], mc,
                                       ', '.join('"%s" x%d' % p for p in pairs)))
    add('')
    add('#### Expected answer vocabulary (min_answer_count 2)')
    add('')
    add('Normalised `multiple_choice_answer` of the 24 train questions occurring at')
    add('least twice, ordered by count descending, then answer; answer_id from 0.')
    add('Counts of every normalised multiple_choice_answer: %s.' % ', '.join(
        '"%s" %d' % (a, n) for a, n in sorted(mc_counts.items(), key=lambda an: (-an[1], an[0]))))
    add('')
    add('| answer_id | answer | train_count |')
    add('|---|---|---|')
    for i, (a, n) in enumerate(vocab):
        add('| %d | %s | %d |' % (i, a, n))
    add('')
    add('#### Expected soft targets')
    add('')
    add('min(1, count / 3) over the 10 normalised annotator answers, kept only for')
    add('answers in the vocabulary; listed as answer_id:answer=score.')
    add('')
    add('| question | targets |')
    add('|---|---|')
    for qid in sorted(train_targets):
        add('| %d | %s |' % (qid, ', '.join('%d:%s=%s' % (i, a, fmt(s))
                                           for i, a, s in train_targets[qid]) or '(none)'))
    add('')
    add('#### Expected priors per question type')
    add('')
    add('Mean soft target of each answer over the 8 train questions of the type')
    add('(sum of its scores divided by 8); answers with no score are absent.')
    add('')
    add('| question_type | answer_id | answer | prior |')
    add('|---|---|---|---|')
    for qtype, rows in priors:
        for i, a, p in rows:
            add('| %s | %d | %s | %s |' % (qtype, i, a, fmt(p)))
    add('')
    add('### vqacp_test_questions.json, vqacp_test_annotations.json')
    add('')
    add('12 questions on images 1..6, ids image_id * 100 + 5 and + 6 (105, 106, 205,')
    add('..., 606): k = 5 is "what color is the" on odd images and "how many" on even')
    add('ones, k = 6 is "is there a". Answers lean to blue/green, 3/4 and "no",')
    add('unlike train. coco_split alternates as in train.')
    add('')
    add('| question | type | multiple_choice_answer | raw answers (count) | soft targets (train vocabulary) |')
    add('|---|---|---|---|---|')
    for qid in sorted(TEST):
        kind, mc, pairs = TEST[qid]
        add('| %d | %s | %s | %s | %s |' % (
            qid, TYPES[kind][0], mc, ', '.join('"%s" x%d' % p for p in pairs),
            ', '.join('%d:%s=%s' % (i, a, fmt(s)) for i, a, s in test_targets[qid]) or '(none)'))
    add('')
    add('## VQA v2 layout (wrapped)')
    add('')
    add('### vqa2_val_questions.json, vqa2_val_annotations.json')
    add('')
    add('`{"info": {...}, "task_type": "Open-Ended", "data_type": "mscoco", "license":')
    add('{...}, "data_subtype": "val2014", "questions": [...]}` and the same around')
    add('"annotations", whose answers carry `answer_confidence` and `answer_id` as in')
    add('the real files. "info" also holds nested lists and objects (and a key')
    add('"questions" inside "info" in the questions file) that a reader must skip.')
    add('6 questions, ids image_id * 1000 + 7 (1007, 2007, ..., 6007) on images 1..6;')
    add('question 1007 is "What color is the café sign?" (UTF-8, written unescaped).')
    add('')
    add('| question | type | multiple_choice_answer | raw answers (count) |')
    add('|---|---|---|---|')
    for qid, image, kind, mc, pairs in VQA2:
        add('| %d | %s | %s | %s |' % (qid, TYPES[kind][0], mc,
                                       ', '.join('"%s" x%d' % p for p in pairs)))
    add('')
    add('## Results')
    add('')
    add('### results_test.json')
    add('')
    add('A results list `[{"question_id", "answer"}]` answering the 12 test questions.')
    add('Expected official accuracy per question (the prediction normalised; the')
    add('ground truth only punctuation-processed, as the official code does when the')
    add('answers are not all identical, which holds for every test question):')
    add('')
    add('| question | prediction | accuracy |')
    add('|---|---|---|')
    for qid in sorted(RESULTS):
        add('| %d | %s | %s |' % (qid, json.dumps(RESULTS[qid]), fmt(accs[qid])))
    add('')
    add('Mean accuracy over the 12: %s (x 100 = %s).' % (
        fmt(sum(accs.values()) / len(accs)), fmt(100 * sum(accs.values()) / len(accs))))
    add('')
    add('## Region features')
    add('')
    add('### features_lxmert.tsv, features_bottomup.tsv')
    add('')
    add('The same 6 images in both layouts: LXMERT obj36 (10 fields, img_id')
    add('`COCO_train2014_000000000001` ... `COCO_train2014_000000000006`, height')
    add('before width) and bottom-up (6 fields, integer ids 1..6, width before')
    add('height). 4 boxes per image, feature dimension 8,')
    add('feature[b][d] = (image_id * 100 + b * 10 + d) / 8 (exact in float32), so')
    add('both loaders must give identical bytes. objects_id = image_id * 10 + b,')
    add('objects_conf = 0.5 + b / 8, attrs_id = b, attrs_conf = 0.25.')
    add('')
    add('| image | width | height |')
    add('|---|---|---|')
    for image in sorted(IMAGE_SIZES):
        add('| %d | %d | %d |' % (image, *IMAGE_SIZES[image]))
    add('')
    add('Boxes (pixels) of every image, by fractions of the width w and height h:')
    add('(w/10, h/10, w/2, h/2), (0, 0, w, h), (w/4, h/2, 3w/4, h),')
    add('(w/2, h/4, 9w/10, 3h/4). Normalised (x1/w, y1/h, x2/w, y2/h) in float32:')
    add('')
    for image in (1, 2):
        w, h = IMAGE_SIZES[image]
        norm = []
        for box in image_boxes(image):
            norm.append('(%s)' % ', '.join(
                repr(f32(f32(c) / (w if k % 2 == 0 else h))) for k, c in enumerate(box)))
        add('- image %d: %s' % (image, ', '.join(norm)))
    add('')
    add('## Malformed files')
    add('')
    add('| file | what is wrong | expected outcome |')
    add('|---|---|---|')
    for row in MALFORMED:
        add('| %s | %s | %s |' % row)
    add('')
    return '\n'.join(L)


MALFORMED = [
    ('bad_json_questions.json', 'the first 3 train questions (101, 102, 103), then '
     'a record missing the colon after `"question_id"`, then more records',
     '3 records, then `invalid JSON at byte 388: parse error: object key and '
     'value must be separated by a colon (\':\')`'),
    ('missing_annotation_annotations.json', 'the 24 train annotations minus the one '
     'of question 301; pair it with vqacp_train_questions.json',
     '23 valid records; loading the pair must report question 301 as having no '
     'annotation'),
    ('duplicate_questions.json', 'the 24 train questions, then question 101 again '
     '(as the 25th record)', '25 valid records; loading must reject question 101 '
     'appearing twice'),
    ('duplicate_annotations.json', 'the 24 train annotations, then the one of '
     'question 101 again (as the 25th record)', '25 valid records; loading must '
     'reject question 101 annotated twice'),
    ('missing_field_questions.json', 'train questions 101, 102, then 103 without '
     '"image_id", then 104', '2 records, then `record 2 (question_id 103): field '
     '"image_id" is missing`'),
    ('results_unknown_question.json', 'results_test.json plus an answer for question '
     '999, which is in no split', '13 valid records; importing them for the test '
     'split must reject question 999'),
    ('results_duplicate.json', 'results_test.json plus a second answer for question '
     '105 ("green")', '13 valid records; importing must reject question 105 '
     'answered twice'),
    ('bad_base64.tsv', 'LXMERT layout, images 1..3; the "features" of image 3 hold '
     'a `!`', '2 images, then `line 3 (image 3): field "features" is not valid base64`'),
    ('box_count_mismatch.tsv', 'LXMERT layout, images 1..2; image 2 has '
     'num_boxes 4 but only 3 boxes', '1 image, then `line 2 (image 2): "boxes" holds '
     '12 floats, expected 4 x num_boxes = 16`'),
    ('nan_features.tsv', 'LXMERT layout, images 1..4; feature value 17 (box 2, '
     'dimension 1) of image 4 is NaN', '3 images, then `line 4 (image 4): "features" '
     'value 17 is NaN`'),
    ('inf_features.tsv', 'LXMERT layout, images 1..5; feature value 30 (box 3, '
     'dimension 6) of image 5 is +infinity', '4 images, then `line 5 (image 5): '
     '"features" value 30 is infinite`'),
    ('duplicate_images.tsv', 'LXMERT layout, images 1..6, then image 2 again',
     '6 images, then `line 7 (image 2): image 2 appears twice in the file`'),
    ('answers_empty.txt', 'an empty answer list file', 'no answers'),
    ('answers_duplicate.json', 'a JSON list of answers with "yes" twice',
     '"yes" at 0 and 2'),
    ('answers_not_strings.json', 'a JSON list of numbers', 'element 0 is not a string'),
]


def main():
    # VQA-CP v2
    train_q = question_records(TRAIN)
    train_a = annotation_records(TRAIN)
    test_q = question_records(TEST, second_text=True)
    test_a = annotation_records(TEST)
    write_json('vqacp_train_questions.json', train_q)
    write_json('vqacp_train_annotations.json', train_a)
    write_json('vqacp_test_questions.json', test_q)
    write_json('vqacp_test_annotations.json', test_a)

    # VQA v2
    v2_questions = []
    v2_annotations = []
    for qid, image, kind, mc, pairs in VQA2:
        text = 'What color is the café sign?' if qid == 1007 else question_text(kind, image)
        v2_questions.append({'image_id': image, 'question': text, 'question_id': qid})
        qtype, atype = TYPES[kind]
        v2_annotations.append({
            'question_type': qtype,
            'multiple_choice_answer': mc,
            'answers': [{'answer': a, 'answer_confidence': 'yes' if i % 4 else 'maybe',
                         'answer_id': i + 1} for i, a in enumerate(expand(pairs))],
            'image_id': image,
            'answer_type': atype,
            'question_id': qid,
        })
    info = {'description': 'vqaprune test data in the VQA v2 layout', 'version': '2.0',
            'year': 2017, 'contributor': 'vqaprune', 'date_created': '2017-04-26',
            'questions': [{'not': 'the list'}], 'nested': [[1, 2], {'a': [None, True]}]}
    licence = {'url': 'http://creativecommons.org/licenses/by/4.0/', 'name': 'CC BY 4.0'}
    write_json('vqa2_val_questions.json', {
        'info': info, 'task_type': 'Open-Ended', 'data_type': 'mscoco',
        'license': licence, 'data_subtype': 'val2014', 'questions': v2_questions},
        ensure_ascii=False)
    info_a = dict(info)
    del info_a['questions']
    write_json('vqa2_val_annotations.json', {
        'info': info_a, 'license': licence, 'data_subtype': 'val2014',
        'annotations': v2_annotations, 'data_type': 'mscoco'})

    # Results
    results = [{'question_id': q, 'answer': RESULTS[q]} for q in sorted(RESULTS)]
    assert sorted(RESULTS) == sorted(TEST)
    write_json('results_test.json', results)
    write_json('results_unknown_question.json', results + [{'question_id': 999, 'answer': 'yes'}])
    write_json('results_duplicate.json', results + [{'question_id': 105, 'answer': 'green'}])

    # Malformed JSON
    text = json.dumps(train_q[:3])[:-1]
    text += (', {"image_id": 1, "question": "What color is the car?", "question_id" 104,'
             ' "coco_split": "val2014"}, ' + json.dumps(train_q[4:6])[1:] + '\n')
    write('bad_json_questions.json', text)
    write_json('missing_annotation_annotations.json',
               [a for a in train_a if a['question_id'] != 301])
    write_json('duplicate_questions.json', train_q + [train_q[0]])
    write_json('duplicate_annotations.json', train_a + [train_a[0]])
    missing = [dict(q) for q in train_q[:4]]
    del missing[2]['image_id']
    write_json('missing_field_questions.json', missing)

    # Features
    write('features_lxmert.tsv', ''.join(lxmert_line(i) for i in range(1, 7)))
    write('features_bottomup.tsv', ''.join(bottomup_line(i) for i in range(1, 7)))
    bad = lxmert_line(3).rstrip('\n').split('\t')
    bad[9] = bad[9][:8] + '!' + bad[9][9:]
    write('bad_base64.tsv', lxmert_line(1) + lxmert_line(2) + '\t'.join(bad) + '\n')
    write('box_count_mismatch.tsv', lxmert_line(1) + lxmert_line(2, boxes=image_boxes(2)[:3]))
    feats = image_features(4)
    feats[2][1] = float('nan')
    write('nan_features.tsv', ''.join(lxmert_line(i) for i in range(1, 4)) +
          lxmert_line(4, features=feats))
    feats = image_features(5)
    feats[3][6] = float('inf')
    write('inf_features.tsv', ''.join(lxmert_line(i) for i in range(1, 5)) +
          lxmert_line(5, features=feats))
    write('duplicate_images.tsv', ''.join(lxmert_line(i) for i in range(1, 7)) + lxmert_line(2))

    # Answer lists
    write('answers_empty.txt', '')
    write_json('answers_duplicate.json', ['yes', 'no', 'yes'])
    write_json('answers_not_strings.json', [1, 2, 3])

    # README
    vocab, mc_counts = vocabulary()
    vocab_ids = {a: i for i, (a, _) in enumerate(vocab)}
    train_targets = soft_targets(TRAIN, vocab_ids)
    test_targets = soft_targets(TEST, vocab_ids)
    priors = []
    for kind in ('color', 'count', 'yesno'):
        qids = [q for q in TRAIN if TRAIN[q][0] == kind]
        sums = Counter()
        for q in qids:
            for i, a, s in train_targets[q]:
                sums[(i, a)] += s
        priors.append((TYPES[kind][0], [(i, a, sums[(i, a)] / len(qids))
                                        for i, a in sorted(sums)]))
    accs = {q: accuracy(RESULTS[q], expand(TEST[q][2])) for q in RESULTS}
    write('README.md', readme(vocab, mc_counts, train_targets, test_targets, priors, accs))


if __name__ == '__main__':
    main()
