/* autotask's dashboard: draws the figures of autotask.overview and asks for them again
   every few seconds while the tab is visible. No library: the chart is inline SVG. */
"use strict";
(function () {
    const root = document.getElementById("at-dashboard");
    if (!root) return;
    const SVG = "http://www.w3.org/2000/svg";
    const url = root.dataset.url;
    const every = parseInt(root.dataset.refresh, 10) || 3000;
    let timer = null;
    let updates = 0;

    // -- small helpers ---------------------------------------------------------------------

    function el(tag, attrs, ...children) {
        const node = document.createElement(tag);
        for (const [name, value] of Object.entries(attrs || {})) {
            if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
        }
        for (const child of children) {
            if (child === null || child === undefined) continue;
            node.append(child instanceof Node ? child : String(child));
        }
        return node;
    }

    function svg(tag, attrs, text) {
        const node = document.createElementNS(SVG, tag);
        for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
        if (text !== undefined) node.textContent = text;
        return node;
    }

    function link(href, text) {
        return href ? el("a", {href: href}, text) : document.createTextNode(text);
    }

    function duration(seconds) {
        if (seconds === null || seconds === undefined) return "-";
        const s = Math.abs(seconds);
        if (s < 0.01) return (s * 1000).toFixed(1) + " ms";
        if (s < 1) return Math.round(s * 1000) + " ms";
        if (s < 60) return s.toFixed(1) + " s";
        if (s < 3600) return Math.floor(s / 60) + " min " + Math.floor(s % 60) + " s";
        if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
        return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
    }

    function relative(iso, nowIso) {
        if (!iso) return "-";
        const seconds = (Date.parse(iso) - Date.parse(nowIso)) / 1000;
        return seconds >= 0 ? "in " + duration(seconds) : duration(seconds) + " ago";
    }

    function clock(iso, withSeconds) {
        if (!iso) return "-";
        const options = {hour: "2-digit", minute: "2-digit", hourCycle: "h23"};
        if (withSeconds) options.second = "2-digit";
        return new Date(iso).toLocaleTimeString([], options);
    }

    function shortName(path) {
        return path.split(".").slice(-2).join(".");
    }

    function fill(tbody, rows, columns, empty) {
        tbody.replaceChildren();
        if (!rows.length) {
            tbody.append(el("tr", {}, el("td", {colspan: columns, class: "at-empty"}, empty)));
            return;
        }
        rows.forEach((cells) => tbody.append(el("tr", {}, ...cells)));
    }

    // -- the parts -------------------------------------------------------------------------

    function renderHealth(data) {
        const list = document.getElementById("at-health");
        list.replaceChildren();
        if (!data.health.ok) {
            data.health.problems.forEach((text) => list.append(el("li", {class: "error"}, text)));
        } else if (!data.health.workers_alive) {
            list.append(el("li", {class: "warning"}, "No worker is alive (nothing is due)."));
        }
    }

    function renderCounts(data) {
        const cards = document.getElementById("at-counts");
        cards.replaceChildren();
        for (const [status, count] of Object.entries(data.counts)) {
            const note = count.kind === "approx" ? "estimate" : count.kind === "at_least" ? "at least" : null;
            cards.append(el("a", {class: "at-card at-" + status, href: count.url, "data-status": status},
                el("span", {class: "at-label"}, status.toLowerCase()),
                el("span", {class: "at-value"}, count.text),
                note ? el("span", {class: "at-note"}, note) : null));
        }
    }

    function renderWaiting(data) {
        document.getElementById("at-due").textContent = data.due.count.text;
        const oldest = document.getElementById("at-oldest");
        oldest.replaceChildren(data.due.oldest_age === null ? "-" : link(data.due.oldest_url, duration(data.due.oldest_age)));
        const pickup = data.pickup;
        document.getElementById("at-p50").textContent = duration(pickup.p50);
        document.getElementById("at-p95").textContent = duration(pickup.p95);
        document.getElementById("at-runs15").textContent = pickup.runs.toLocaleString();
    }

    function niceMax(value) {
        if (value <= 4) return 4;
        const power = Math.pow(10, Math.floor(Math.log10(value)));
        for (const step of [1, 2, 4, 6, 8, 10]) {  // halves that are whole numbers
            if (step * power >= value) return step * power;
        }
        return 10 * power;
    }

    function renderChart(data) {
        const series = data.per_minute;
        const width = 640, height = 220, left = 44, right = 8, top = 10, bottom = 24;
        const plotWidth = width - left - right, plotHeight = height - top - bottom;
        const top_ = niceMax(Math.max(0, ...series.map((m) => m.done + m.failed)));
        const slot = plotWidth / series.length;
        const y = (value) => top + plotHeight - (value / top_) * plotHeight;
        const chart = svg("svg", {viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "runs per minute, last hour"});
        for (const fraction of [0, 0.5, 1]) {
            const value = top_ * fraction;
            chart.append(svg("line", {class: fraction ? "at-grid-line" : "at-axis", x1: left, x2: width - right, y1: y(value), y2: y(value)}));
            chart.append(svg("text", {x: left - 6, y: y(value) + 3, "text-anchor": "end"}, value.toLocaleString()));
        }
        let total = 0;
        series.forEach((minute, index) => {
            const x = left + index * slot + slot * 0.1, barWidth = slot * 0.8;
            const group = svg("g", {class: "at-minute", "data-minute": minute.minute});
            group.append(svg("title", {}, `${clock(minute.minute)}: ${minute.done} done, ${minute.failed} failed, ` +
                `${minute.retried} failed and retried, ${minute.cancelled} cancelled`));
            group.append(svg("rect", {x: x, width: barWidth, y: top, height: plotHeight, fill: "transparent"}));
            if (minute.done) {
                group.append(svg("rect", {class: "at-done", x: x, width: barWidth, y: y(minute.done), height: y(0) - y(minute.done)}));
            }
            if (minute.failed) {
                group.append(svg("rect", {class: "at-failed", x: x, width: barWidth,
                    y: y(minute.done + minute.failed), height: y(minute.done) - y(minute.done + minute.failed)}));
            }
            total += minute.done + minute.failed;
            chart.append(group);
            const last = index === series.length - 1;
            if (index % 15 === 0 || last) {
                chart.append(svg("text", {x: last ? width - right : left + index * slot + slot / 2, y: height - 6,
                    "text-anchor": last ? "end" : "middle"}, clock(minute.minute)));
            }
        });
        chart.dataset.total = total;
        document.getElementById("at-chart").replaceChildren(chart);
        const hour = data.last_hour;
        document.getElementById("at-hour-totals").textContent =
            ` · last hour: ${hour.done.toLocaleString()} done, ${hour.failed.toLocaleString()} failed, ` +
            `${hour.retried.toLocaleString()} retried, ${hour.cancelled.toLocaleString()} cancelled`;
    }

    function renderQueues(data) {
        const rows = data.queues.map((queue) => [
            el("td", {}, link(data.links.tasks + "?queue_name=" + encodeURIComponent(queue.queue), queue.queue)),
            el("td", {class: "at-num"}, queue.waiting.text),
            el("td", {class: "at-num"}, queue.running.text),
            el("td", {class: queue.workers ? "at-num" : "at-num at-error"}, queue.workers),
        ]);
        fill(document.querySelector("#at-queues tbody"), rows, 4, "No task waits or runs.");
    }

    function renderWorkers(data) {
        document.getElementById("at-workers-link").href = data.links.workers;
        const rows = data.workers.map((worker) => {
            const state = el("span", {class: "at-dot " + (worker.alive ? "at-alive" : "at-lost")});
            const running = worker.running.length
                ? worker.running.map((task, i) => [i ? ", " : "", link(task.url, shortName(task.function)),
                    task.progress === null ? "" : ` ${task.progress}%`]).flat()
                : ["-"];
            return [
                el("td", {}, state, link(worker.url, `${worker.host}:${worker.pid}`)),
                el("td", {title: "started " + relative(worker.started_at, data.now)}, worker.companion ? "companion" : "dedicated"),
                el("td", {}, worker.queues.length ? worker.queues.join(", ") : "all"),
                el("td", {class: worker.alive ? null : "at-error"}, duration(worker.heartbeat_age) + " ago" + (worker.alive ? "" : " (lost)")),
                el("td", {class: "at-num"}, worker.tasks_done.toLocaleString()),
                el("td", {}, ...running),
            ];
        });
        fill(document.querySelector("#at-workers tbody"), rows, 6, "No worker has registered.");
    }

    function renderSchedules(data) {
        document.getElementById("at-schedules-link").href = data.links.schedules;
        const rows = data.schedules.map((schedule) => {
            const state = !schedule.active ? "stopped" : schedule.paused ? "paused" : null;
            const next = schedule.active && !schedule.paused ? relative(schedule.next_run_at, data.now) : "-";
            const last = schedule.last_run_at ? `${relative(schedule.last_run_at, data.now)} ${schedule.last_status}` : "-";
            return [
                el("td", {}, link(schedule.url, shortName(schedule.function)), state ? el("span", {class: "at-tag"}, state) : null,
                    el("div", {class: "at-empty"}, schedule.expression)),
                el("td", {title: schedule.next_run_at || ""}, next),
                el("td", {class: schedule.last_status === "ERROR" ? "at-error" : null, title: schedule.last_error_text || ""}, last),
            ];
        });
        fill(document.querySelector("#at-schedules tbody"), rows, 3, "No schedule stored yet.");
    }

    function renderFailures(data) {
        document.getElementById("at-failures-link").href = data.links.failures;
        const rows = data.failures.map((failure) => [
            el("td", {}, link(failure.url, shortName(failure.function))),
            el("td", {class: "at-error"}, (failure.exception_class ? shortName(failure.exception_class) + ": " : "") + failure.message),
            el("td", {title: failure.finished_at || ""}, relative(failure.finished_at || failure.run_at, data.now)),
        ]);
        fill(document.querySelector("#at-failures tbody"), rows, 3, "No failed task.");
    }

    function render(data) {
        renderHealth(data);
        renderCounts(data);
        renderWaiting(data);
        renderChart(data);
        renderQueues(data);
        renderWorkers(data);
        renderSchedules(data);
        renderFailures(data);
        updates += 1;
        root.dataset.updates = updates;
        document.getElementById("at-updated").textContent = `updated ${clock(data.now, true)} (${data.took_ms} ms)`;
    }

    // -- refreshing, only while the tab is visible -----------------------------------------

    function schedule() {
        clearTimeout(timer);
        timer = document.hidden ? null : setTimeout(refresh, every);
        root.dataset.paused = document.hidden ? "1" : "0";
    }

    async function refresh() {
        try {
            const response = await fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}});
            if (!response.ok) throw new Error("HTTP " + response.status);
            render(await response.json());
        } catch (error) {
            document.getElementById("at-updated").textContent = `update failed (${error.message}); trying again`;
        } finally {
            schedule();
        }
    }

    document.addEventListener("visibilitychange", () => (document.hidden ? schedule() : refresh()));
    render(JSON.parse(document.getElementById("autotask-figures").textContent));
    schedule();
})();
