// Compiles a Flamenco job the way Flamenco Manager does, in a node:vm sandbox with stand-ins for the
// globals Flamenco gives job compiler scripts (author, frameChunker, path, print).
//
// usage: node flamenco_harness.js JOB_SCRIPT SETTINGS_JSON
// prints {"job_type": JOB_TYPE, "tasks": [{name, type, commands: [{name, parameters}], dependencies}],
//         "log": [...]} or {"error": "..."} when the script refuses the job.
"use strict";

const fs = require("node:fs");
const vm = require("node:vm");
const nodePath = require("node:path");

// Flamenco's frame-list syntax: comma-separated frames and inclusive ranges, e.g. "1-10,20-30" or "3, 5-7",
// also in Blender's notation "1..10". Like the Manager, the result is sorted and holds each frame once.
function explodeFrames(text) {
    const frames = new Set();
    for (const raw of String(text).replaceAll("..", "-").split(",")) {
        const part = raw.trim();
        const m = /^(\d+)(?:\s*-\s*(\d+))?$/.exec(part);
        if (!m) throw `invalid frame range "${part}"`;
        const first = Number(m[1]);
        const last = m[2] === undefined ? first : Number(m[2]);
        for (let f = first; f <= last; f++) frames.add(f);
    }
    if (frames.size === 0) throw `invalid range "${text}": empty range`;
    return [...frames].sort((a, b) => a - b);
}

// [1,2,3,5,7,8] -> "1-3,5,7,8", as Flamenco formats a chunk: a run of two frames is written "7,8".
function mergeFrames(frames) {
    const parts = [];
    let start = frames[0];
    let prev = frames[0];
    for (const f of frames.slice(1).concat([null])) {
        if (f !== null && f === prev + 1) {
            prev = f;
            continue;
        }
        parts.push(start === prev ? `${start}` : prev === start + 1 ? `${start},${prev}` : `${start}-${prev}`);
        start = prev = f;
    }
    return parts.join(",");
}

// Chunks of at most `size` frames, in the order the frame list gives them.
function frameChunker(text, size) {
    if (!(size >= 1)) throw `chunk size must be at least 1, not ${size}`;
    const frames = explodeFrames(text);
    const chunks = [];
    for (let i = 0; i < frames.length; i += size) chunks.push(mergeFrames(frames.slice(i, i + size)));
    return chunks;
}

class AuthoredTask {
    constructor(name, type) {
        this.name = name;
        this.type = type;
        this.commands = [];
        this.dependencies = [];
    }
    addCommand(command) {
        this.commands.push(command);
    }
    addDependency(task) {
        if (!(task instanceof AuthoredTask)) throw "addDependency() needs a task made by author.Task()";
        this.dependencies.push(task);
    }
}

const log = [];
const author = {
    Task: (name, type) => new AuthoredTask(name, type),
    Command: (name, parameters) => ({ name, parameters }),
};
const path = {
    join: nodePath.posix.join, basename: nodePath.posix.basename, dirname: nodePath.posix.dirname,
    stem: (p) => nodePath.posix.parse(p).name,
};
const print = (...args) => log.push(args.map(String).join(" "));

function compile(scriptPath, settings) {
    const context = vm.createContext({ author, frameChunker, path, print });
    const source = fs.readFileSync(scriptPath, "utf8");
    const exported = vm.runInContext(`${source}\n;({ JOB_TYPE, compileJob })`, context, { filename: scriptPath });
    const jobType = exported.JOB_TYPE;
    // Flamenco fills settings the submitter left out with their defaults and refuses missing required ones.
    const full = {};
    for (const s of jobType.settings) {
        if (s.key in settings) full[s.key] = settings[s.key];
        else if ("default" in s) full[s.key] = s.default;
        else if (s.required) throw `required setting "${s.key}" is missing`;
    }
    const tasks = [];
    const job = {
        name: "test job", created: new Date(0), priority: 50, settings: full, metadata: {},
        addTask: (task) => tasks.push(task),
    };
    exported.compileJob(job);
    return {
        job_type: jobType,
        tasks: tasks.map((t) => ({
            name: t.name, type: t.type, commands: t.commands,
            dependencies: t.dependencies.map((d) => d.name),
        })),
        log,
    };
}

const [scriptPath, settingsJson] = process.argv.slice(2);
let result;
try {
    result = compile(scriptPath, JSON.parse(settingsJson));
} catch (err) {
    result = { error: String(err), log };
}
process.stdout.write(JSON.stringify(result) + "\n");
