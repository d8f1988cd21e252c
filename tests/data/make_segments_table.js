#!/usr/bin/env node
/*
 * Regenerates tests/data/segments.tsv, the reference table that tests/test_sms.py checks
 * bot/sms.py against, from Twilio's own segment calculator (npm "sms-segments-calculator").
 *
 * Why a generated table: the counts must agree with what Twilio's calculator says, and the
 * calculator is JavaScript. Keeping its answers in a committed file lets the Python tests run
 * without node; this script is only needed when segment_texts.txt changes.
 *
 * Usage (node_modules must not land in the repository, so install the package elsewhere):
 *   mkdir -p /tmp/segcalc && cd /tmp/segcalc && npm init -y && npm install sms-segments-calculator
 *   NODE_PATH=/tmp/segcalc/node_modules node tests/data/make_segments_table.js \
 *       tests/data/segment_texts.txt > tests/data/segments.tsv
 *
 * Input format (segment_texts.txt), one text per line:
 *   - lines that are empty or start with "#" are ignored;
 *   - otherwise the line is JSON: either a string, or an array whose items are strings or
 *     [string, count] pairs, concatenated in order ([["a", 152], "€"] is 152 "a" then "€"),
 *     so that part-boundary cases stay readable.
 *
 * Output columns (tab-separated, with a header line):
 *   text      the expanded text as a JSON string (so tabs, newlines and CR stay visible)
 *   encoding  "GSM-7" or "UCS-2"
 *   segments  number of SMS parts according to the calculator
 *   units     message size without the concatenation headers, in septets (GSM-7) or UTF-16
 *             code units (UCS-2): messageSize bits / 7 or / 16
 *
 * Smart encoding is OFF (third constructor argument false): bot/sms.py folds text itself
 * before counting, and the table must describe the raw text.
 */
'use strict';

const fs = require('fs');
const { SegmentedMessage } = require('sms-segments-calculator');

function expand(spec) {
  if (typeof spec === 'string') {
    return spec;
  }
  if (!Array.isArray(spec)) {
    throw new Error(`unsupported spec: ${JSON.stringify(spec)}`);
  }
  return spec
    .map((item) => {
      if (typeof item === 'string') {
        return item;
      }
      if (Array.isArray(item) && item.length === 2 && typeof item[0] === 'string' && Number.isInteger(item[1])) {
        return item[0].repeat(item[1]);
      }
      throw new Error(`unsupported item: ${JSON.stringify(item)}`);
    })
    .join('');
}

function main() {
  const inputPath = process.argv[2];
  if (!inputPath) {
    process.stderr.write('usage: make_segments_table.js segment_texts.txt > segments.tsv\n');
    process.exit(2);
  }
  const lines = fs.readFileSync(inputPath, 'utf8').split('\n');
  const out = ['text\tencoding\tsegments\tunits'];
  const seen = new Set();
  lines.forEach((line, index) => {
    if (line.trim() === '' || line.startsWith('#')) {
      return;
    }
    let text;
    try {
      text = expand(JSON.parse(line));
    } catch (err) {
      throw new Error(`${inputPath}:${index + 1}: ${err.message}`);
    }
    if (seen.has(text)) {
      throw new Error(`${inputPath}:${index + 1}: duplicate text`);
    }
    seen.add(text);
    const message = new SegmentedMessage(text, 'auto', false);
    const bitsPerUnit = message.encodingName === 'GSM-7' ? 7 : 16;
    const units = message.messageSize / bitsPerUnit;
    if (!Number.isInteger(units)) {
      throw new Error(`${inputPath}:${index + 1}: message size ${message.messageSize} bits`);
    }
    out.push([JSON.stringify(text), message.encodingName, message.segmentsCount, units].join('\t'));
  });
  process.stdout.write(`${out.join('\n')}\n`);
}

main();
